import { Migration } from '@mikro-orm/migrations';

/**
 * The audit trail's append-only triggers fire in every session (issue 13 break round, finding 4).
 *
 * Ordinary triggers (tgenabled 'O') do not fire while a session runs with `session_replication_role = replica`, which
 * any superuser session (Herald's default `postgres` connection) can set for itself without touching the table: one
 * `SET LOCAL session_replication_role = replica` and a DELETE went through. `ENABLE ALWAYS` (tgenabled 'A') makes them
 * fire in replica mode too (PostgreSQL docs, ALTER TABLE … ENABLE ALWAYS TRIGGER), so only an ALTER TABLE that
 * disables them on purpose gets past, as the README says.
 */
export class Migration20261222090000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "audit_log" enable always trigger "audit_log_no_update_delete";`);
    this.addSql(`alter table "audit_log" enable always trigger "audit_log_no_truncate";`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "audit_log" enable trigger "audit_log_no_update_delete";`);
    this.addSql(`alter table "audit_log" enable trigger "audit_log_no_truncate";`);
  }
}
