import { Migration } from '@mikro-orm/migrations';

/** The foundation schema: contacts, devices, types, notifications, messages and their delivery events. */
export class Migration20261122043752 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "contact_info" ("id" uuid not null, "tenant_id" text not null, "user_id" text not null, "email" text null, "phone" text null, "whatsapp" text null, "locale" text null, "timezone" text null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "contact_info_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "contact_info" add constraint "contact_info_tenant_id_user_id_unique" unique ("tenant_id", "user_id");`,
    );

    this.addSql(
      `create table "delivery_event" ("id" uuid not null, "tenant_id" text not null, "message_id" uuid not null, "status" text check ("status" in ('QUEUED', 'SCHEDULED', 'SENDING', 'SENT', 'DELIVERED', 'READ', 'OPENED', 'CLICKED', 'UNDELIVERED', 'BOUNCED', 'FAILED', 'SUPPRESSED', 'CANCELLED')) not null, "previous_status" text check ("previous_status" in ('QUEUED', 'SCHEDULED', 'SENDING', 'SENT', 'DELIVERED', 'READ', 'OPENED', 'CLICKED', 'UNDELIVERED', 'BOUNCED', 'FAILED', 'SUPPRESSED', 'CANCELLED')) null, "occurred_at" timestamptz not null, "source" text not null, "provider" text null, "attempt" int null, "provider_event_id" text null, "error_code" text null, "error_message" text null, "raw" jsonb null, "created_at" timestamptz not null, constraint "delivery_event_pkey" primary key ("id"));`,
    );
    this.addSql(
      `create index "delivery_event_tenant_id_message_id_occurred_at_index" on "delivery_event" ("tenant_id", "message_id", "occurred_at");`,
    );

    this.addSql(
      `create table "device" ("id" uuid not null, "tenant_id" text not null, "user_id" text not null, "token" text not null, "platform" text check ("platform" in ('ANDROID', 'IOS', 'WEB')) null, "active" boolean not null default true, "deactivated_reason" text null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "device_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "device_tenant_id_user_id_index" on "device" ("tenant_id", "user_id");`);
    this.addSql(
      `alter table "device" add constraint "device_tenant_id_token_unique" unique ("tenant_id", "token");`,
    );

    this.addSql(
      `create table "message" ("id" uuid not null, "tenant_id" text not null, "notification_id" uuid not null, "user_id" text not null, "channel" text check ("channel" in ('EMAIL', 'SMS', 'WHATSAPP', 'PUSH')) not null, "priority" text check ("priority" in ('CRITICAL', 'HIGH', 'MEDIUM', 'LOW')) not null default 'MEDIUM', "provider" text null, "to" text not null, "content" jsonb null, "status" text check ("status" in ('QUEUED', 'SCHEDULED', 'SENDING', 'SENT', 'DELIVERED', 'READ', 'OPENED', 'CLICKED', 'UNDELIVERED', 'BOUNCED', 'FAILED', 'SUPPRESSED', 'CANCELLED')) not null default 'QUEUED', "due_at" timestamptz null, "lease_until" timestamptz null, "attempt" int not null default 0, "provider_message_id" text null, "cost" double precision null, "segments" int null, "error_code" text null, "error_message" text null, "fallback_used" boolean not null default false, "queued_at" timestamptz null, "scheduled_at" timestamptz null, "sending_at" timestamptz null, "sent_at" timestamptz null, "delivered_at" timestamptz null, "read_at" timestamptz null, "opened_at" timestamptz null, "clicked_at" timestamptz null, "undelivered_at" timestamptz null, "bounced_at" timestamptz null, "failed_at" timestamptz null, "suppressed_at" timestamptz null, "cancelled_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "message_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "message_provider_message_id_index" on "message" ("provider_message_id");`);
    this.addSql(
      `create index "message_tenant_id_notification_id_index" on "message" ("tenant_id", "notification_id");`,
    );

    this.addSql(
      `create table "notification" ("id" uuid not null, "tenant_id" text not null, "user_id" text not null, "type" text not null, "data" jsonb null, "priority" text check ("priority" in ('CRITICAL', 'HIGH', 'MEDIUM', 'LOW')) not null default 'MEDIUM', "channels" jsonb not null, "recipient" jsonb null, "content" jsonb null, "scheduled_at" timestamptz null, "idempotency_key" text null, "status" text check ("status" in ('SCHEDULED', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED', 'SUPPRESSED')) not null default 'PROCESSING', "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "notification_pkey" primary key ("id"));`,
    );
    this.addSql(
      `create index "notification_tenant_id_created_at_id_index" on "notification" ("tenant_id", "created_at", "id");`,
    );
    this.addSql(
      `create index "notification_tenant_id_user_id_created_at_id_index" on "notification" ("tenant_id", "user_id", "created_at", "id");`,
    );

    this.addSql(
      `create table "notification_type" ("id" uuid not null, "tenant_id" text not null, "key" text not null, "name" text not null, "description" text null, "category" text check ("category" in ('TRANSACTIONAL', 'MARKETING')) not null default 'TRANSACTIONAL', "default_channels" jsonb not null, "default_priority" text check ("default_priority" in ('CRITICAL', 'HIGH', 'MEDIUM', 'LOW')) not null default 'MEDIUM', "templates" jsonb not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "notification_type_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "notification_type" add constraint "notification_type_tenant_id_key_unique" unique ("tenant_id", "key");`,
    );
    // Hand-written additions: partial indexes the scheduler and idempotency rely on, and referential integrity
    // (deferred to commit: the unit of work inserts tables in its own order).
    this.addSql(
      `create unique index "notification_tenant_id_idempotency_key_unique" on "notification" ("tenant_id", "idempotency_key") where "idempotency_key" is not null;`,
    );
    this.addSql(`create index "message_due_index" on "message" ("due_at") where "status" = 'SCHEDULED';`);
    this.addSql(
      `create index "message_lease_index" on "message" ("lease_until") where "status" = 'SENDING';`,
    );
    this.addSql(`create index "message_queued_index" on "message" ("queued_at") where "status" = 'QUEUED';`);
    this.addSql(
      `alter table "message" add constraint "message_notification_id_foreign" foreign key ("notification_id") references "notification" ("id") on delete cascade deferrable initially deferred;`,
    );
    this.addSql(
      `alter table "delivery_event" add constraint "delivery_event_message_id_foreign" foreign key ("message_id") references "message" ("id") on delete cascade deferrable initially deferred;`,
    );
  }
}
