import { Migration } from '@mikro-orm/migrations';

/** Provider failover: retryable failures per provider, per message. */
export class Migration20261122080000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "message" add column "provider_failures" jsonb not null default '{}';`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "message" drop column if exists "provider_failures";`);
  }
}
