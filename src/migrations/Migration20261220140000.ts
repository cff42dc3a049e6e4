import { Migration } from '@mikro-orm/migrations';

/**
 * Issue 13: tenants' own provider accounts. `channel_config` holds them (credentials as one AES-256-GCM ciphertext);
 * `message.channel_config_id` records which config sent a message (null = the service-wide accounts).
 * `tenant_settings.use_shared_providers` comes from Migration20261220130000 (tenant settings).
 */
export class Migration20261220140000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "channel_config" ("id" uuid not null, "tenant_id" text not null, "name" text not null, "channel" text check ("channel" in ('EMAIL', 'SMS', 'WHATSAPP', 'PUSH')) not null, "provider" text check ("provider" in ('twilio-sms', 'twilio-whatsapp', 'sendgrid', 'fcm', 'ses', 'sns')) not null, "active" boolean not null, "position" int not null, "senders" jsonb not null, "identifiers" jsonb not null, "credentials" text not null, "secret_fields" jsonb not null, "validation_ok" boolean null, "validation_checked_at" timestamptz null, "validation_error" text null, "version" int not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "channel_config_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "channel_config" add constraint "channel_config_tenant_id_name_unique" unique ("tenant_id", "name");`,
    );
    this.addSql(
      `create index "channel_config_tenant_id_channel_position_index" on "channel_config" ("tenant_id", "channel", "position");`,
    );
    this.addSql(`alter table "message" add column "channel_config_id" uuid null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "message" drop column if exists "channel_config_id";`);
    this.addSql(`drop table if exists "channel_config" cascade;`);
  }
}
