import { Migration } from '@mikro-orm/migrations';

/** Consent ledger and current state, double opt-in verifications, preferences, type fallbacks and caps. */
export class Migration20261122052646 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "consent" ("id" uuid not null, "tenant_id" text not null, "user_id" text not null, "channel" text check ("channel" in ('EMAIL', 'SMS', 'WHATSAPP', 'PUSH')) not null, "type_key" text not null, "status" text check ("status" in ('GRANTED', 'PENDING_VERIFICATION', 'REVOKED')) not null, "source" text null, "address" text null, "granted_at" timestamptz null, "revoked_at" timestamptz null, "updated_at" timestamptz not null, constraint "consent_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "consent" add constraint "consent_tenant_id_user_id_channel_type_key_unique" unique ("tenant_id", "user_id", "channel", "type_key");`,
    );

    this.addSql(
      `create table "consent_event" ("id" uuid not null, "tenant_id" text not null, "user_id" text not null, "channel" text check ("channel" in ('EMAIL', 'SMS', 'WHATSAPP', 'PUSH')) not null, "type_key" text not null, "action" text not null, "status" text check ("status" in ('GRANTED', 'PENDING_VERIFICATION', 'REVOKED')) null, "source" text null, "reason" text null, "proof" jsonb null, "address" text null, "occurred_at" timestamptz not null, "recorded_at" timestamptz null default clock_timestamp(), constraint "consent_event_pkey" primary key ("id"));`,
    );
    this.addSql(
      `create index "consent_event_tenant_id_user_id_occurred_at_index" on "consent_event" ("tenant_id", "user_id", "occurred_at");`,
    );

    this.addSql(
      `create table "consent_verification" ("id" uuid not null, "tenant_id" text not null, "user_id" text not null, "channel" text check ("channel" in ('EMAIL', 'SMS', 'WHATSAPP', 'PUSH')) not null, "address" text not null, "type_keys" jsonb not null, "code_hash" text not null, "salt" text not null, "expires_at" timestamptz not null, "attempts_left" int not null, "state" text not null, "proof" jsonb null, "source" text null, "created_at" timestamptz not null, constraint "consent_verification_pkey" primary key ("id"));`,
    );
    this.addSql(
      `create index "consent_verification_tenant_id_user_id_channel_index" on "consent_verification" ("tenant_id", "user_id", "channel");`,
    );

    this.addSql(
      `create table "notification_preferences" ("id" uuid not null, "tenant_id" text not null, "user_id" text not null, "channels" jsonb not null, "types" jsonb not null, "quiet_hours" jsonb null, "frequency" text check ("frequency" in ('IMMEDIATE', 'DAILY', 'WEEKLY')) not null default 'IMMEDIATE', "preferred_sms_time" text null, "preferred_email_day" int null, "segment" text null, "updated_at" timestamptz not null, constraint "notification_preferences_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "notification_preferences" add constraint "notification_preferences_tenant_id_user_id_unique" unique ("tenant_id", "user_id");`,
    );

    this.addSql(
      `alter table "notification_type" add column "fallback_channels" jsonb not null default '[]', add column "frequency_cap" jsonb null;`,
    );
    this.addSql(`alter table "message" add column "type_key" text null, add column "category" text null;`);
    // Frequency caps count a user's recent messages per channel.
    this.addSql(
      `create index "message_cap_index" on "message" ("tenant_id", "user_id", "channel", "sent_at");`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "consent" cascade;`);

    this.addSql(`drop table if exists "consent_event" cascade;`);

    this.addSql(`drop table if exists "consent_verification" cascade;`);

    this.addSql(`drop table if exists "notification_preferences" cascade;`);

    this.addSql(
      `alter table "notification_type" drop column "fallback_channels", drop column "frequency_cap";`,
    );
    this.addSql(`alter table "message" drop column "type_key", drop column "category";`);
  }
}
