import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import type { Channel } from '../entities';
import { Consent, ConsentEvent, ConsentStatus, WHOLE_CHANNEL } from '../entities';
import { runRaw } from '../persistence/raw';
import { recordAudit, type AuditAction, type AuditSource } from './audit.service';

export interface LedgerEntry {
  tenantId: string;
  userId: string;
  channel: Channel;
  /** A type key, or undefined for the whole channel. */
  typeKey?: string | null;
  /** GRANT, VERIFY, VERIFY_FAILED, LOCKED, EXPIRED, REVOKE */
  action: string;
  /** The status the consent moves to; undefined for events that change none (a failed verification). */
  status?: ConsentStatus;
  source?: string | null;
  reason?: string | null;
  proof?: Record<string, unknown> | null;
  address?: string | null;
  at: Date;
  /** Who made the change and through which request: every state change writes one audit row with it. */
  audit: AuditSource;
}

/** The consent row as the audit trail keeps it. */
interface ConsentRow {
  id: string;
  user_id: string;
  channel: string;
  type_key: string;
  status: string;
  source: string | null;
  address: string | null;
  granted_at: Date | null;
  revoked_at: Date | null;
}

const consentSnapshot = (row: ConsentRow | undefined) =>
  row
    ? {
        userId: row.user_id,
        channel: row.channel,
        type: row.type_key === WHOLE_CHANNEL ? null : row.type_key,
        status: row.status,
        source: row.source,
        address: row.address,
        grantedAt: row.granted_at,
        revokedAt: row.revoked_at,
      }
    : null;

const auditAction = (entry: LedgerEntry): AuditAction => {
  if (entry.status === ConsentStatus.REVOKED) return 'revoke';
  if (entry.status === ConsentStatus.PENDING_VERIFICATION) return 'request';
  return entry.action === 'VERIFY' ? 'verify' : 'grant';
};

/** Whether `entry` moves the stored row: another status, or a source or address it does not hold yet. */
const changesRow = (row: ConsentRow, entry: LedgerEntry): boolean =>
  row.status !== String(entry.status) ||
  (entry.source != null && entry.source !== row.source) ||
  (entry.address != null && entry.address !== row.address);

const CONSENT_COLUMNS = 'id, user_id, channel, type_key, status, source, address, granted_at, revoked_at';

/**
 * Appends to the consent ledger and moves the current state with it, in the caller's transaction. Every writer —
 * grantConsent, verifyConsent, revokeConsent, STOP/START replies, SendGrid unsubscribes, Twilio 21610, one-click
 * unsubscribes — comes here. A state change (an entry with `status`) also writes one audit row (entity `consent`,
 * action grant / request / verify / revoke) with the row before and after; events that change no state (a wrong code,
 * a re-grant of a granted consent with the same source and address) stay in the ledger only.
 */
export async function recordConsent(em: EntityManager, entry: LedgerEntry): Promise<void> {
  const typeKey = entry.typeKey ?? WHOLE_CHANNEL;
  em.persist(
    em.create(ConsentEvent, {
      tenantId: entry.tenantId,
      userId: entry.userId,
      channel: entry.channel,
      typeKey,
      action: entry.action,
      status: entry.status ?? null,
      source: entry.source ?? null,
      reason: entry.reason ?? null,
      proof: entry.proof ?? null,
      address: entry.address ?? null,
      occurredAt: entry.at,
    }),
  );
  if (!entry.status) return;
  const granted = entry.status === ConsentStatus.GRANTED;
  const revoked = entry.status === ConsentStatus.REVOKED;
  // Locked so `before` is the state this change replaced, whatever runs beside it.
  const [before] = await runRaw<ConsentRow>(
    em,
    `select ${CONSENT_COLUMNS} from consent
      where tenant_id = ? and user_id = ? and channel = ? and type_key = ? for update`,
    [entry.tenantId, entry.userId, entry.channel, typeKey],
  );
  // Asking for the state the consent is already in (a re-grant of a granted consent, a revoke of a revoked one) changes
  // nothing: the row keeps its grantedAt/revokedAt and updatedAt and no audit row is written; the ledger entry above
  // still records the request (with its proof), as a wrong code is recorded there only.
  if (before && !changesRow(before, entry)) return;
  const [after] = await runRaw<ConsentRow>(
    em,
    `insert into consent (id, tenant_id, user_id, channel, type_key, status, source, address, granted_at, revoked_at, updated_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     on conflict (tenant_id, user_id, channel, type_key) do update set
       status = excluded.status,
       source = coalesce(excluded.source, consent.source),
       address = coalesce(excluded.address, consent.address),
       granted_at = case when excluded.status = 'GRANTED' and consent.status <> 'GRANTED'
                         then excluded.granted_at else consent.granted_at end,
       revoked_at = case when excluded.status = 'REVOKED' and consent.status <> 'REVOKED'
                         then excluded.revoked_at else consent.revoked_at end,
       updated_at = excluded.updated_at
     returning ${CONSENT_COLUMNS}`,
    [
      randomUUID(),
      entry.tenantId,
      entry.userId,
      entry.channel,
      typeKey,
      entry.status,
      entry.source ?? null,
      entry.address ?? null,
      granted ? entry.at : null,
      revoked ? entry.at : null,
      entry.at,
    ],
  );
  await recordAudit(em, {
    tenantId: entry.tenantId,
    ...entry.audit,
    entity: 'consent',
    entityId: after.id,
    action: auditAction(entry),
    before: consentSnapshot(before),
    after: consentSnapshot(after),
    at: entry.at,
  });
}

/** The current consents of one user on one channel: the whole-channel one (if any) and per type. */
export interface ChannelConsents {
  channel: Consent | undefined;
  byType: Map<string, Consent>;
}

/** One user's consent rows on one channel: the whole-channel row and the per-type rows. */
export function groupConsents(rows: Consent[]): ChannelConsents {
  return {
    channel: rows.find((c) => c.typeKey === WHOLE_CHANNEL),
    byType: new Map(rows.filter((c) => c.typeKey !== WHOLE_CHANNEL).map((c) => [c.typeKey, c])),
  };
}

export async function consentsOf(
  em: EntityManager,
  tenantId: string,
  userId: string,
  channel: Channel,
): Promise<ChannelConsents> {
  return groupConsents(await em.find(Consent, { tenantId, userId, channel }, { refresh: true }));
}
