import { Migration } from '@mikro-orm/migrations';

/**
 * Soft-deleted channel configs (break-round finding F5 of issue 13): deleteChannelConfig sets `deleted_at` instead of
 * removing the row, so the config's webhook paths keep verifying with its own secret and applying the vendor's later
 * reports (deliveries, bounces, an inbound STOP) for the messages it sent, until the scheduler purges it
 * (DELETED_CHANNEL_CONFIG_WEBHOOK_DAYS). A deleted config's name is free again: the unique constraint on
 * (tenant_id, name) becomes a unique index over live rows only. The purge finds the deleted rows by a partial index.
 */
export class Migration20261222100000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "channel_config" add column "deleted_at" timestamptz null;`);
    this.addSql(
      `alter table "channel_config" drop constraint if exists "channel_config_tenant_id_name_unique";`,
    );
    this.addSql(
      `create unique index "channel_config_tenant_id_name_unique" on "channel_config" ("tenant_id", "name") where "deleted_at" is null;`,
    );
    this.addSql(
      `create index "channel_config_deleted_at_index" on "channel_config" ("deleted_at") where "deleted_at" is not null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`delete from "channel_config" where "deleted_at" is not null;`);
    this.addSql(`drop index if exists "channel_config_deleted_at_index";`);
    this.addSql(`drop index if exists "channel_config_tenant_id_name_unique";`);
    this.addSql(
      `alter table "channel_config" add constraint "channel_config_tenant_id_name_unique" unique ("tenant_id", "name");`,
    );
    this.addSql(`alter table "channel_config" drop column if exists "deleted_at";`);
  }
}
