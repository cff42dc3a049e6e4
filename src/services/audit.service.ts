import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import { runRaw } from '../persistence/raw';
import { sameJson } from '../domain/same-json';
import type { Caller } from './deps';

/** What an audit row can be about (`entity` column); auditLog's filter takes these. */
export const AUDIT_ENTITIES = [
  'consent',
  'contact',
  'device',
  'preferences',
  'notificationType',
  'tenantSettings',
  'notification',
  'channelConfig',
] as const;

export type AuditEntity = (typeof AUDIT_ENTITIES)[number];

/** What happened to it (`action` column). */
export type AuditAction =
  | 'create'
  | 'update'
  | 'delete'
  | 'grant'
  | 'request'
  | 'verify'
  | 'revoke'
  | 'register'
  | 'unregister'
  | 'deactivate'
  | 'reset'
  | 'cancel';

/** Who made a change and through which request. */
export interface AuditSource {
  /**
   * The token subject (`sub`); for changes a vendor or recipient made, a system actor (src/domain/audit-actors.ts,
   * which no token subject may read as): `webhook:twilio`, `webhook:sendgrid` (their signed webhooks),
   * `provider:twilio`, `provider:fcm` (a refusal at send, e.g. 21610), `unsubscribe-link`; null for Herald itself and
   * the development caller (auth off).
   */
  actor: string | null;
  /** The HTTP request's id (x-request-id or Herald's UUID), one per websocket operation; for a vendor's webhook the
   * stored provider event's key (the change may be applied by the scheduler after the request). Null if none. */
  requestId: string | null;
}

/**
 * One audit row. `before`/`after` are JSON snapshots (plain objects, arrays, strings, numbers, booleans, null; Dates
 * become ISO strings) of the entity: null `before` for a creation, null `after` for a deletion. They must NEVER hold
 * a secret: mask credentials (`***`) before calling.
 */
export interface AuditRecord extends AuditSource {
  tenantId: string;
  entity: AuditEntity;
  /** The changed row: consent/device/notification/channelConfig id, user id (contact, preferences), type key, tenant id. */
  entityId: string;
  action: AuditAction;
  before: unknown;
  after: unknown;
  /** When the change was made; default: the database's clock at insert. */
  at?: Date;
}

/** The actor and request of a GraphQL caller: its `sub`, or null for the development caller and Herald itself. */
export const auditSourceOf = (caller: Caller): AuditSource => ({
  actor: caller.anonymous ? null : caller.subject,
  requestId: caller.requestId ?? null,
});

/**
 * Appends one row to the audit trail (`audit_log`), in `em`'s open transaction, so the change and its record commit or
 * roll back together. Call it once per changed entity (a batch writes one row per change), after reading `before`
 * and making the change in the same transaction:
 *
 * ```ts
 * await em.transactional(async (tx) => {
 *   const before = snapshot(await tx.findOne(ChannelConfig, { id, tenantId }));
 *   // … change the row …
 *   await recordAudit(tx, { tenantId, ...auditSourceOf(caller), entity: 'channelConfig', entityId: id,
 *                           action: 'update', before, after: { ...after, credentials: { authToken: '***' } } });
 * });
 * ```
 *
 * A change that changes nothing is not a change: when `before` and `after` say the same thing (sameJson: key order,
 * null vs a missing key and Date vs ISO string do not count) no row is written and false is answered. Callers should
 * also leave the entity itself untouched then (no `updatedAt`, no `version` bump): see the README's "Audit trail".
 *
 * @param em an EntityManager inside a transaction (`em.transactional` callback's `tx`).
 * @param record tenantId, actor, requestId, entity, entityId, action, before, after (JSON, no secrets), optional at.
 * @returns true when a row was written, false for a change that changed nothing.
 * @throws Error when `em` has no open transaction (a programming error: the row could outlive a rolled-back change);
 *   the database's errors as MikroORM exceptions.
 */
export async function recordAudit(em: EntityManager, record: AuditRecord): Promise<boolean> {
  if (!em.getTransactionContext())
    throw new Error('recordAudit needs the transaction of the change it records (em.transactional)');
  if (sameJson(record.before, record.after)) return false;
  await runRaw(
    em,
    `insert into audit_log (id, tenant_id, actor, occurred_at, entity, entity_id, action, before, after, request_id)
     values (?, ?, ?, coalesce(?::timestamptz, now()), ?, ?, ?, ?::jsonb, ?::jsonb, ?)`,
    [
      randomUUID(),
      record.tenantId,
      record.actor,
      record.at ?? null,
      record.entity,
      record.entityId,
      record.action,
      toJson(record.before),
      toJson(record.after),
      record.requestId,
    ],
  );
  return true;
}

/** JSON text for a jsonb parameter; null/undefined stay SQL null. */
const toJson = (value: unknown): string | null =>
  value === null || value === undefined ? null : JSON.stringify(value);
