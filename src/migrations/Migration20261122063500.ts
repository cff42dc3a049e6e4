import { Migration } from '@mikro-orm/migrations';

/** Per-tenant settings: budgets. */
export class Migration20261122063500 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "tenant_settings" ("id" uuid not null, "tenant_id" text not null, "daily_budget" double precision null, "monthly_budget" double precision null, "critical_bypasses_budget" boolean null, "updated_at" timestamptz not null, constraint "tenant_settings_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "tenant_settings" add constraint "tenant_settings_tenant_id_unique" unique ("tenant_id");`,
    );
    // Spend is summed per tenant over a period of creation times.
    this.addSql(`create index "message_spend_index" on "message" ("tenant_id", "created_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "tenant_settings" cascade;`);
    this.addSql(`drop index if exists "message_spend_index";`);
  }
}
