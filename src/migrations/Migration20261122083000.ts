import { Migration } from '@mikro-orm/migrations';

/** Provider-reported prices: where a message's cost came from, and when to ask the provider for it. */
export class Migration20261122083000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "message" add column "cost_source" text null, add column "price_check_due_at" timestamptz null, add column "price_checks" int not null default 0;`,
    );
    this.addSql(
      `create index "message_price_check_index" on "message" ("price_check_due_at") where "price_check_due_at" is not null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "message_price_check_index";`);
    this.addSql(
      `alter table "message" drop column if exists "cost_source", drop column if exists "price_check_due_at", drop column if exists "price_checks";`,
    );
  }
}
