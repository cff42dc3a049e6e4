import { Migration } from '@mikro-orm/migrations';

/**
 * An inbound reply that is not an opt-out by Herald's rule but mentions an opt-out word ("please don't stop") is kept
 * flagged for a person (issue 12; src/domain/reply-keywords.ts). Existing rows are not re-read: false.
 */
export class Migration20261212090000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "inbound_message" add column "possible_opt_out" boolean not null default false;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "inbound_message" drop column if exists "possible_opt_out";`);
  }
}
