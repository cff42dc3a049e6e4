import type { EntityManager } from '@mikro-orm/postgresql';
import { runRaw } from '../persistence/raw';
import { AUDIT_ENTITIES } from './audit.service';
import type { Caller, ServiceDeps } from './deps';
import { BadUserInputError } from './errors';
import { assertStorable, quote } from './input-guard';

/** auditLog's filter and the export's query: each given field narrows; `from` inclusive, `to` exclusive. */
export interface AuditFilterCommand {
  entity?: string | null;
  entityId?: string | null;
  actor?: string | null;
  from?: Date | null;
  to?: Date | null;
}

/** One audit row as read back (the GraphQL AuditEntry and one line of the JSON-lines export). */
export interface AuditRow {
  id: string;
  actor: string | null;
  occurredAt: Date;
  entity: string;
  entityId: string;
  action: string;
  before: unknown;
  after: unknown;
  requestId: string | null;
  /** Insertion order, the cursor's key. */
  seq: string;
}

export interface AuditPage {
  nodes: AuditRow[];
  endCursor: string | null;
  hasNextPage: boolean;
}

/** The largest page auditLog(first:) serves. */
export const MAX_AUDIT_PAGE = 100;
/** Rows the export reads per query: memory stays bounded by this, whatever the table holds. */
const EXPORT_BATCH = 500;

/** Opaque cursor: the seq of the last row seen (newest first). */
export const encodeAuditCursor = (row: Pick<AuditRow, 'seq'>) =>
  Buffer.from(`audit:${row.seq}`).toString('base64url');

function decodeAuditCursor(cursor: string): string {
  const match =
    cursor.length <= 64 ? /^audit:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8')) : null;
  if (!match) throw new BadUserInputError('after: not a cursor returned by auditLog', 'after');
  return match[1];
}

/**
 * Checks a filter. @throws BadUserInputError naming `<prefix>entity` (not one of AUDIT_ENTITIES), `<prefix>from` /
 * `<prefix>to` (not a date, or from after to).
 */
export function checkAuditFilter(filter: AuditFilterCommand, prefix = 'filter.'): AuditFilterCommand {
  assertStorable({ filter }, '');
  if (filter.entity && !(AUDIT_ENTITIES as readonly string[]).includes(filter.entity))
    throw new BadUserInputError(
      `${prefix}entity: ${quote(filter.entity)} is not one of ${AUDIT_ENTITIES.join(', ')}`,
      `${prefix}entity`,
    );
  for (const field of ['from', 'to'] as const) {
    const value = filter[field];
    if (value && Number.isNaN(value.getTime()))
      throw new BadUserInputError(`${prefix}${field}: not a date`, `${prefix}${field}`);
  }
  if (filter.from && filter.to && filter.from > filter.to)
    throw new BadUserInputError(`${prefix}from: must not be after ${prefix}to`, `${prefix}from`);
  return filter;
}

/** occurred_at as ISO 8601 UTC text to the millisecond: MikroORM's type parsers hand timestamptz back as text. */
const COLUMNS = `id, actor, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "occurredAt", entity, entity_id as "entityId", action, before, after,
  request_id as "requestId", seq::text as seq`;

/** `where` text and bindings for a tenant's rows under a filter, older than `beforeSeq` when given. */
function whereOf(tenantId: string, filter: AuditFilterCommand, beforeSeq?: string) {
  const clauses = ['tenant_id = ?'];
  const bindings: (string | Date)[] = [tenantId];
  const add = (clause: string, value: string | Date) => {
    clauses.push(clause);
    bindings.push(value);
  };
  if (filter.entity) add('entity = ?', filter.entity);
  if (filter.entityId) add('entity_id = ?', filter.entityId);
  if (filter.actor) add('actor = ?', filter.actor);
  if (filter.from) add('occurred_at >= ?', filter.from);
  if (filter.to) add('occurred_at < ?', filter.to);
  if (beforeSeq !== undefined) add('seq < ?', beforeSeq);
  return { sql: clauses.join(' and '), bindings };
}

/** Reads of the audit trail, always scoped to one tenant, newest first. */
export class AuditQueryService {
  constructor(private readonly deps: ServiceDeps) {}

  private em() {
    return this.deps.orm.em.fork() as EntityManager;
  }

  private async read(tenantId: string, filter: AuditFilterCommand, limit: number, beforeSeq?: string) {
    const where = whereOf(tenantId, filter, beforeSeq);
    // `audit_log.seq`, the bigint column: a bare `seq` would sort by the output column `seq::text` ("9" after "15").
    const rows = await runRaw<AuditRow & { occurredAt: Date | string }>(
      this.em(),
      `select ${COLUMNS} from audit_log where ${where.sql} order by audit_log.seq desc limit ?`,
      [...where.bindings, limit],
    );
    return rows.map((row) => ({ ...row, occurredAt: new Date(row.occurredAt) }));
  }

  /**
   * A page of the caller tenant's audit rows, newest first.
   * @throws BadUserInputError naming `first` (1–100), `after` (not our cursor) or the filter field.
   */
  async page(
    caller: Caller,
    filter: AuditFilterCommand,
    first = 20,
    after?: string | null,
  ): Promise<AuditPage> {
    checkAuditFilter(filter);
    if (!Number.isInteger(first) || first < 1 || first > MAX_AUDIT_PAGE)
      throw new BadUserInputError(`first: must be between 1 and ${MAX_AUDIT_PAGE}`, 'first');
    const rows = await this.read(
      caller.tenantId,
      filter,
      first + 1,
      after ? decodeAuditCursor(after) : undefined,
    );
    const nodes = rows.slice(0, first);
    const last = nodes[nodes.length - 1];
    return { nodes, endCursor: last ? encodeAuditCursor(last) : null, hasNextPage: rows.length > first };
  }

  /**
   * Every matching row of one tenant, newest first, in batches of EXPORT_BATCH (keyset on seq), so an export of any
   * size holds one batch at a time. The filter must have passed checkAuditFilter.
   */
  async *stream(tenantId: string, filter: AuditFilterCommand): AsyncGenerator<AuditRow[]> {
    let beforeSeq: string | undefined;
    for (;;) {
      const rows = await this.read(tenantId, filter, EXPORT_BATCH, beforeSeq);
      if (rows.length > 0) yield rows;
      if (rows.length < EXPORT_BATCH) return;
      beforeSeq = rows[rows.length - 1].seq;
    }
  }
}
