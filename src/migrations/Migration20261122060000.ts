import { Migration } from '@mikro-orm/migrations';

/** Idempotency keys remember the input they were first used with. */
export class Migration20261122060000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "notification" add column "input_hash" text null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "notification" drop column "input_hash";`);
  }
}
