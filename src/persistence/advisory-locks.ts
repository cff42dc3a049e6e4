import type { EntityManager } from '@mikro-orm/postgresql';
import { runRaw } from './raw';

/**
 * Advisory-lock spaces (the first key of PostgreSQL's two-key form, apart from the one-key migration lock): arbitrary
 * constants, "HF" for Herald frequency caps, "HB" for Herald budgets, "HC" for Herald channel fallback and "HT" for
 * Herald notification types.
 */
const CAP_LOCK_SPACE = 0x4846;
const SPEND_LOCK_SPACE = 0x4842;
const FALLBACK_LOCK_SPACE = 0x4843;
const TYPES_LOCK_SPACE = 0x4854;
const CHANNEL_CONFIGS_LOCK_SPACE = 0x4843_0001;

/** The counter a frequency cap counts on: one user's messages on one channel (both caps of the policy count there). */
export const capCounterKey = (tenantId: string, userId: string, channel: string) =>
  JSON.stringify([tenantId, userId, channel]);

/**
 * Takes a transaction-scoped PostgreSQL advisory lock per cap counter, in one statement and in hash order (so two
 * claim groups asking for overlapping counters cannot deadlock on each other), held until the transaction ends.
 *
 * Why: a cap is "count the user's SENDING and sent messages, then claim if under the limit". Two claim transactions
 * (two groups of one worker, or two worker processes) each counting before the other committed both see room and
 * both send. Under the lock the second one counts only after the first committed its message as SENDING, so it
 * sees it. An advisory lock needs no extra table or row (the counted rows may not exist yet, so SELECT … FOR UPDATE
 * has nothing to lock), and it is released with the transaction, including when a process dies.
 * Keys are hashed to 32 bits (hashtext); two counters sharing a hash only wait for each other, never miscount.
 */
export async function lockCapCounters(tx: EntityManager, keys: Iterable<string>): Promise<void> {
  const unique = [...new Set(keys)];
  if (unique.length === 0) return;
  // OFFSET 0 keeps the sorted subquery from being flattened, so the locks are taken in its order.
  await runRaw(
    tx,
    `select pg_advisory_xact_lock(?, k)::text as locked
       from (select distinct hashtext(x) as k from unnest(?::text[]) as x order by k offset 0) as counters`,
    [CAP_LOCK_SPACE, unique],
  );
}

/**
 * Takes the transaction-scoped advisory lock on a tenant's spend, held until the transaction ends. Accepts that
 * check a budget hold it from reading the spend until their messages are committed, so two accepts (two groups of
 * one API process, or two processes) cannot both fit into the same remaining budget.
 */
export async function lockTenantSpend(tx: EntityManager, tenantId: string): Promise<void> {
  await runRaw(tx, 'select pg_advisory_xact_lock(?, hashtext(?))::text as locked', [
    SPEND_LOCK_SPACE,
    tenantId,
  ]);
}

/**
 * Takes the transaction-scoped advisory lock on a notification's channel fallback. Fallback looks at the channels
 * the notification already used and creates a message on the first unused one: two of its messages failing at once
 * in two transactions would each miss the other's new message and both create one. Under the lock the second looks
 * after the first committed. An advisory lock rather than the notification row's: claims and records lock that row
 * to refresh the roll-up, and a fallback must not wait on (or deadlock with) them.
 */
export async function lockFallback(tx: EntityManager, notificationId: string): Promise<void> {
  await runRaw(tx, 'select pg_advisory_xact_lock(?, hashtext(?))::text as locked', [
    FALLBACK_LOCK_SPACE,
    notificationId,
  ]);
}

/**
 * Takes the transaction-scoped advisory lock on a tenant's notification types, held until the transaction ends.
 * upsertNotificationType counts the tenant's types before it inserts a new one (at most TYPES_PER_TENANT, the bound
 * the query cost prices notificationTypes and the per-type lists at): two upserts of new keys counting before either
 * committed would both see room and both insert. Under the lock the second counts after the first committed. An
 * advisory lock because there is no row to lock yet; it also makes two creations of the same new key an update
 * rather than a unique violation.
 */
export async function lockTenantTypes(tx: EntityManager, tenantId: string): Promise<void> {
  await runRaw(tx, 'select pg_advisory_xact_lock(?, hashtext(?))::text as locked', [
    TYPES_LOCK_SPACE,
    tenantId,
  ]);
}

/**
 * Takes the transaction-scoped advisory lock on a tenant's channel configs: createChannelConfig counts them before it
 * inserts (at most LIST_LIMITS.channelConfigsPerTenant, the bound `channelConfigs` is priced at), so two creates at
 * once count one after the other.
 */
export async function lockTenantChannelConfigs(tx: EntityManager, tenantId: string): Promise<void> {
  await runRaw(tx, 'select pg_advisory_xact_lock(?, hashtext(?))::text as locked', [
    CHANNEL_CONFIGS_LOCK_SPACE,
    tenantId,
  ]);
}
