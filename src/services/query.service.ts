import { ReferenceKind } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Channel, NotificationStatus, RenderedContent } from '../entities';
import { DeliveryEvent, Message, Notification } from '../entities';
import type { Caller, ServiceDeps } from './deps';
import { ContentBudget, type ContentLease } from './content-budget';
import { BadUserInputError, ContentTooLargeError, ResponseBudgetError } from './errors';
import type { ProviderCircuits } from '../providers/resilience/provider-circuit';
import { assertStorable } from './input-guard';
import { INPUT_LIMITS } from './input-limits';
import { LIST_LIMITS } from './list-limits';

export interface NotificationFilterCommand {
  userId?: string | null;
  status?: NotificationStatus | null;
  channel?: Channel | null;
  type?: string | null;
}

export interface NotificationPage {
  nodes: Notification[];
  endCursor: string | null;
  hasNextPage: boolean;
}

/** The largest page `notifications(first:)` serves. */
export const MAX_PAGE = 100;

/** Opaque cursor: the (createdAt, id) of the last row seen, newest first. */
export const encodeCursor = (n: Pick<Notification, 'createdAt' | 'id'>) =>
  Buffer.from(`${n.createdAt.toISOString()}|${n.id}`).toString('base64url');

const CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([0-9a-f-]{36})$/i;

/**
 * The inverse of encodeCursor. Anything else (not base64url, another shape, an impossible date, an id that is not a
 * UUID) is BAD_USER_INPUT naming `after`, never a database error.
 */
function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const match = cursor.length <= 128 ? CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8')) : null;
  const createdAt = new Date(match?.[1] ?? '');
  // A date PostgreSQL cannot hold (year 0) is as forged as a malformed one.
  const inRange = createdAt.getTime() >= Date.parse(INPUT_LIMITS.dateTime.min);
  if (!match || Number.isNaN(createdAt.getTime()) || !inRange || !isUuid(match[2]))
    throw new BadUserInputError('after: not a cursor returned by this API', 'after');
  return { createdAt, id: match[2] };
}

/**
 * Columns a page of notifications leaves out: what was accepted for sending (explicit content up to ~2 MB, the
 * recipient) is never a GraphQL field, and reading it for every row of every alias of a page is what let a few
 * aliases hold hundreds of MB at once. The page's rows are fresh, partial entities of a forked EntityManager.
 */
const PAGE_EXCLUDED_PROPERTIES = new Set(['content', 'recipient']);

/**
 * How long a read of stored content waits for room in GRAPHQL_INFLIGHT_RESPONSE_BYTES before it is answered 503:
 * as long as a request body waits for GRAPHQL_INFLIGHT_BODY_BYTES.
 */
const RESPONSE_BUDGET_WAIT_MS = 5_000;

/**
 * Stored content one request may still read, and how much it asked for in all (bytes of the content's JSON); the
 * reservations it holds in the process's GRAPHQL_INFLIGHT_RESPONSE_BYTES, given back by `release` once the response
 * is written (HTTP: the response's 'close'; graphql-ws: after the result is sent).
 */
export interface ContentReadBudget {
  bytesLeft: number;
  bytesAsked: number;
  leases: ContentLease[];
  /** Gives back every reservation held so far; later reads reserve anew. Safe to call more than once. */
  release(): void;
}

/** Reads, always scoped to the caller's tenant. */

export class QueryService {
  /**
   * Content bytes all responses of this process hold at once (GRAPHQL_INFLIGHT_RESPONSE_BYTES). A read of stored
   * content becomes several copies before it is written (the row's text, the parsed JSON, the serialized response):
   * 30 concurrent reads of 7.6 MB each ran a 192 MB API out of memory in JSON.stringify, although each was under
   * GRAPHQL_MAX_RESPONSE_BYTES.
   */
  readonly responseBudget: ContentBudget;

  constructor(
    private readonly deps: ServiceDeps,
    private readonly circuits: ProviderCircuits,
  ) {
    this.responseBudget = new ContentBudget(deps.config.graphql.inflightResponseBytes);
  }

  private em() {
    return this.deps.orm.em.fork() as EntityManager;
  }

  /**
   * Providers per channel with their mode and health: the circuit every process shares and the error rate of the
   * last minute. A provider is healthy when it is configured and its circuit is not open.
   */
  async providers() {
    const described = this.deps.providers.describe();
    const health = await this.circuits.health(described.map((p) => p.id));
    return described.map((p) => {
      const live = health[p.id];
      return {
        ...p,
        channel: p.channel as Channel,
        circuit: p.configured ? (live?.circuit ?? 'closed') : null,
        errorRate: live?.errorRate ?? null,
        openUntil: live?.openUntil ? new Date(live.openUntil) : null,
        healthy: p.configured && live?.circuit !== 'open',
      };
    });
  }

  notification(caller: Caller, id: string): Promise<Notification | null> {
    if (!isUuid(id)) return Promise.resolve(null);
    return this.em().findOne(Notification, { id, tenantId: caller.tenantId });
  }

  message(caller: Caller, id: string): Promise<Message | null> {
    if (!isUuid(id)) return Promise.resolve(null);
    return this.em().findOne(Message, { id, tenantId: caller.tenantId });
  }

  messagesOf(tenantId: string, notificationId: string): Promise<Message[]> {
    return this.em().find(
      Message,
      { tenantId, notificationId },
      { orderBy: { createdAt: 'asc', id: 'asc' } },
    );
  }

  /** The messages of many notifications at once, in the same order as messagesOf per notification. */
  messagesOfMany(tenantId: string, notificationIds: string[]): Promise<Message[]> {
    return this.em().find(
      Message,
      { tenantId, notificationId: { $in: notificationIds } },
      { orderBy: { createdAt: 'asc', id: 'asc' } },
    );
  }

  /**
   * The stored content of many messages in one query (the column is lazy: only a query that selects it reads it),
   * within what is left of the request's `budget` (bytes of the content's JSON, decremented here).
   * @returns id → content, or ContentTooLargeError for a message whose content no longer fits the budget, or
   *   ResponseBudgetError for every content of a batch that found no room in GRAPHQL_INFLIGHT_RESPONSE_BYTES within
   *   5 s; a message of another tenant or without content is absent.
   */
  /** Bytes of stored content one request may read (its share of GRAPHQL_MAX_RESPONSE_BYTES). */
  contentBudget(): ContentReadBudget {
    const leases: ContentLease[] = [];
    return {
      bytesLeft: this.deps.config.graphql.maxResponseBytes,
      bytesAsked: 0,
      leases,
      release: () => {
        for (const lease of leases.splice(0)) lease.release();
      },
    };
  }

  async contentOfMany(
    tenantId: string,
    messageIds: string[],
    budget: ContentReadBudget,
  ): Promise<Map<string, RenderedContent | ContentTooLargeError | ResponseBudgetError>> {
    // Sizes first: a page of 100 emails of 2 MB each would be 200 MB read into memory before the response-size check
    // could refuse it. What fits in the request's budget is read; the rest answers an error per field.
    const sizes = await this.em()
      .getConnection()
      .execute<{ id: string; bytes: number | null }[]>(
        'select id, octet_length(content::text) as bytes from message where tenant_id = ? and id in (?)',
        [tenantId, messageIds],
      );
    const result = new Map<string, RenderedContent | ContentTooLargeError | ResponseBudgetError>();
    const wanted: string[] = [];
    let wantedBytes = 0;
    const refused: string[] = [];
    for (const { id, bytes } of sizes) {
      if (!bytes) continue;
      budget.bytesAsked += bytes;
      if (bytes > budget.bytesLeft) {
        refused.push(id);
        continue;
      }
      budget.bytesLeft -= bytes;
      wantedBytes += Number(bytes);
      wanted.push(id);
    }
    for (const id of refused) {
      result.set(id, new ContentTooLargeError(this.deps.config.graphql.maxResponseBytes, budget.bytesAsked));
    }
    if (wanted.length === 0) return result;
    // Reserved from the sizes, before any content is read; the request gives it back once its response is written.
    const lease = await this.responseBudget.acquire(wantedBytes, RESPONSE_BUDGET_WAIT_MS);
    if (!lease) {
      const busy = new ResponseBudgetError();
      for (const id of wanted) result.set(id, busy);
      return result;
    }
    budget.leases.push(lease);
    const rows = await this.em().find(
      Message,
      { tenantId, id: { $in: wanted } },
      { fields: ['id', 'content'] as never, populate: ['content'] as never },
    );
    for (const row of rows) if (row.content) result.set(row.id, row.content);
    return result;
  }

  /**
   * The events of many messages in one query, for the per-request loader: each message's in the order Herald recorded
   * them (recordedAt, then insertion order), not by occurredAt, which providers give in whole seconds; at most
   * LIST_LIMITS.eventsPerMessage per message, the newest.
   */
  async eventsOfMany(tenantId: string, messageIds: string[]): Promise<DeliveryEvent[]> {
    const em = this.em();
    // Each message's newest LIST_LIMITS.eventsPerMessage only: provider events (every open, every click) are all
    // stored, and the query cost prices a message's events at that bound.
    const newest = await em.getConnection().execute<{ id: string }[]>(
      `select id from (
         select id, row_number() over (partition by message_id order by recorded_at desc, seq desc) as n
         from "delivery_event" where tenant_id = ? and message_id in (?)
       ) ranked where n <= ?`,
      [tenantId, messageIds, LIST_LIMITS.eventsPerMessage.max],
    );
    if (newest.length === 0) return [];
    return em.find(
      DeliveryEvent,
      { tenantId, id: { $in: newest.map((row) => row.id) } },
      { orderBy: { recordedAt: 'asc', seq: 'asc' } },
    );
  }

  async notifications(
    caller: Caller,
    filter: NotificationFilterCommand,
    first = 20,
    after?: string | null,
  ): Promise<NotificationPage> {
    assertStorable({ filter, after }, '');
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) {
      throw new BadUserInputError(`first: must be between 1 and ${MAX_PAGE}`, 'first');
    }
    const em = this.em();
    const columns = em
      .getMetadata()
      .get(Notification)
      .props.filter(
        (p) =>
          p.kind === ReferenceKind.SCALAR && p.persist !== false && !PAGE_EXCLUDED_PROPERTIES.has(p.name),
      )
      .map((p) => p.name);
    const qb = em
      .createQueryBuilder(Notification, 'n')
      .select(columns as never)
      .where({ tenantId: caller.tenantId });
    if (filter.userId) qb.andWhere({ userId: filter.userId });
    if (filter.status) qb.andWhere({ status: filter.status });
    if (filter.type) qb.andWhere({ type: filter.type });
    if (filter.channel) {
      qb.andWhere(
        'exists (select 1 from message m where m.notification_id = n.id and m.tenant_id = n.tenant_id and m.channel = ?)',
        [filter.channel],
      );
    }
    if (after) {
      const cursor = decodeCursor(after);
      qb.andWhere('(n.created_at, n.id) < (?, ?)', [cursor.createdAt, cursor.id]);
    }
    const rows = await qb
      .orderBy({ createdAt: 'desc', id: 'desc' })
      .limit(first + 1)
      .getResultList();
    const nodes = rows.slice(0, first);
    const last = nodes[nodes.length - 1];
    return { nodes, endCursor: last ? encodeCursor(last) : null, hasNextPage: rows.length > first };
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);
