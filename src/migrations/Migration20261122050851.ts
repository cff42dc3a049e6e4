import { Migration } from '@mikro-orm/migrations';

/** The delivery lifecycle: raw provider events, address blocks (suppressions, opt-outs), inbound replies. */
export class Migration20261122050851 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "address_block" ("id" uuid not null, "identity" text not null, "channel" text check ("channel" in ('EMAIL', 'SMS', 'WHATSAPP', 'PUSH')) not null, "address" text not null, "kind" text check ("kind" in ('SUPPRESSION', 'OPT_OUT')) not null, "reason" text not null, "source" text null, "created_at" timestamptz not null, constraint "address_block_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "address_block" add constraint "address_block_identity_channel_address_kind_unique" unique ("identity", "channel", "address", "kind");`,
    );

    this.addSql(
      `create table "inbound_message" ("id" uuid not null, "tenant_id" text not null, "user_id" text null, "direction" text not null default 'IN', "channel" text check ("channel" in ('EMAIL', 'SMS', 'WHATSAPP', 'PUSH')) not null, "from" text not null, "to" text not null, "body" text not null, "media" jsonb not null, "keyword" text null, "provider_message_id" text not null, "received_at" timestamptz not null, constraint "inbound_message_pkey" primary key ("id"));`,
    );
    this.addSql(
      `create index "inbound_message_tenant_id_user_id_received_at_index" on "inbound_message" ("tenant_id", "user_id", "received_at");`,
    );

    this.addSql(
      `create table "provider_event" ("id" uuid not null, "tenant_id" text not null default '*', "provider" text not null, "kind" text not null, "event_key" text not null, "message_id" uuid null, "payload" jsonb not null, "received_at" timestamptz not null, "processed_at" timestamptz null, "attempts" int not null default 0, "last_error" text null, constraint "provider_event_pkey" primary key ("id"));`,
    );
    // Only unprocessed events are ever scanned (by the scheduler), so the index covers just those.
    this.addSql(
      `create index "provider_event_unprocessed_index" on "provider_event" ("received_at") where "processed_at" is null;`,
    );
    this.addSql(
      `alter table "provider_event" add constraint "provider_event_provider_event_key_unique" unique ("provider", "event_key");`,
    );

    this.addSql(`alter table "delivery_event" add column "event_type" text null;`);
    // Inbound replies find their user by number.
    this.addSql(`create index "contact_info_phone_index" on "contact_info" ("phone");`);
    this.addSql(`create index "contact_info_whatsapp_index" on "contact_info" ("whatsapp");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "address_block" cascade;`);

    this.addSql(`drop table if exists "inbound_message" cascade;`);

    this.addSql(`drop table if exists "provider_event" cascade;`);

    this.addSql(`alter table "delivery_event" drop column "event_type";`);
    this.addSql(`drop index if exists "contact_info_phone_index";`);
    this.addSql(`drop index if exists "contact_info_whatsapp_index";`);
  }
}
