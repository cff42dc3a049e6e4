import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/core';
import type { Message } from '../entities';
import {
  DeliveryEvent,
  FINAL_STATUSES,
  MessageStatus,
  Notification,
  NotificationStatus,
  SENT_STATUSES,
} from '../entities';
import type { MessageStatusPayload } from '../pubsub/pubsub';
import { groupBy } from './group-by';

/** The timestamp column each status sets. */
export const TIMESTAMP_OF: Record<MessageStatus, keyof Message> = {
  [MessageStatus.QUEUED]: 'queuedAt',
  [MessageStatus.SCHEDULED]: 'scheduledAt',
  [MessageStatus.SENDING]: 'sendingAt',
  [MessageStatus.SENT]: 'sentAt',
  [MessageStatus.DELIVERED]: 'deliveredAt',
  [MessageStatus.READ]: 'readAt',
  [MessageStatus.OPENED]: 'openedAt',
  [MessageStatus.CLICKED]: 'clickedAt',
  [MessageStatus.UNDELIVERED]: 'undeliveredAt',
  [MessageStatus.BOUNCED]: 'bouncedAt',
  [MessageStatus.FAILED]: 'failedAt',
  [MessageStatus.SUPPRESSED]: 'suppressedAt',
  [MessageStatus.CANCELLED]: 'cancelledAt',
};

export interface StatusDetails {
  source?: string;
  errorCode?: string | null;
  errorMessage?: string | null;
  raw?: Record<string, unknown> | null;
  /** The message's first status: there is no previous one. */
  initial?: boolean;
  providerEventId?: string | null;
  eventType?: string | null;
  /** When Herald recorded it (defaults to `at`); history is listed in recording order. */
  recordedAt?: Date;
}

/**
 * After SENT, provider events only move a message forward by rank (CONTRACT.md); an equal or lower rank never
 * changes it. Statuses without a rank are Herald's own and never moved by a provider.
 */
export const STATUS_RANK: Partial<Record<MessageStatus, number>> = {
  [MessageStatus.SENT]: 1,
  [MessageStatus.DELIVERED]: 2,
  [MessageStatus.UNDELIVERED]: 2,
  [MessageStatus.FAILED]: 2,
  [MessageStatus.BOUNCED]: 2,
  [MessageStatus.READ]: 3,
  [MessageStatus.OPENED]: 3,
  [MessageStatus.CLICKED]: 4,
};

export function movesForward(current: MessageStatus, reported: MessageStatus): boolean {
  const from = STATUS_RANK[current];
  const to = STATUS_RANK[reported];
  return from !== undefined && to !== undefined && to > from;
}

/** A committed status change, ready to publish. */
export type StatusChange = MessageStatusPayload;

/** What subscribers receive for a message at its current status. */
export function statusPayload(
  message: Message,
  previousStatus: MessageStatus | null,
  at: Date,
): StatusChange {
  return {
    tenantId: message.tenantId,
    userId: message.userId,
    notificationId: message.notificationId,
    messageId: message.id,
    status: message.status,
    previousStatus,
    occurredAt: at.toISOString(),
    message: messageSnapshot(message),
  };
}

/** The message as subscribers see it (JSON-safe; tenant left out). */
export function messageSnapshot(message: Message): Record<string, unknown> {
  // A shallow copy with dates as ISO strings: what JSON would make of it, without a serialize-and-parse round trip
  // per status change. Nested values (content, providerFailures) are replaced, never mutated, so sharing them is safe.
  const snapshot: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message)) {
    // Content (megabytes for an email) is not published with every change: Message.content loads it on demand.
    if (
      key === 'tenantId' ||
      key === 'leaseUntil' ||
      key === 'content' ||
      value === undefined ||
      typeof value === 'function'
    )
      continue;
    snapshot[key] = value instanceof Date ? value.toISOString() : value;
  }
  return snapshot;
}

/**
 * Moves a message to a status inside the caller's transaction: sets the status and its timestamp, records the
 * error when given, and persists a delivery event. Returns the change to publish once the transaction commits.
 */
export function applyStatus(
  em: EntityManager,
  message: Message,
  status: MessageStatus,
  at: Date,
  details: StatusDetails = {},
): StatusChange {
  const { event, change } = transition(message, status, at, details);
  em.persist(event);
  return change;
}

/** Ends without any provider having accepted it: cancelled, suppressed, or failed before a SENT was recorded. */
function neverAccepted(message: Message, status: MessageStatus): boolean {
  if (status === MessageStatus.CANCELLED || status === MessageStatus.SUPPRESSED) return true;
  return status === MessageStatus.FAILED && !message.sentAt;
}

/**
 * The same move without a unit of work: the delivery event is returned for the caller to write (the accept path
 * inserts its rows in bulk).
 */
export function transition(
  message: Message,
  status: MessageStatus,
  at: Date,
  details: StatusDetails = {},
): { event: DeliveryEvent; change: StatusChange } {
  const previousStatus = details.initial ? null : message.status;
  message.status = status;
  if (neverAccepted(message, status)) {
    // `cost` is what a provider charges for the message: one that no provider accepted costs nothing and counts
    // toward no budget (README "Cost"). The estimate held while it waited is dropped.
    message.cost = null;
    message.costSource = null;
    // The segments were the estimate's; with no cost they describe nothing billed.
    message.segments = null;
  }
  (message as unknown as Record<string, Date>)[TIMESTAMP_OF[status] as string] = at;
  message.updatedAt = at;
  if (details.errorCode !== undefined) {
    message.errorCode = details.errorCode;
    message.errorMessage = details.errorMessage ?? null;
  }
  const event = Object.assign(new DeliveryEvent(), {
    tenantId: message.tenantId,
    messageId: message.id,
    status,
    previousStatus: previousStatus === status ? null : previousStatus,
    occurredAt: at,
    source: details.source ?? 'herald',
    provider: message.provider ?? null,
    attempt: message.attempt,
    errorCode: details.errorCode ?? null,
    errorMessage: details.errorMessage ?? null,
    raw: details.raw ?? null,
    providerEventId: details.providerEventId ?? null,
    eventType: details.eventType ?? null,
    recordedAt: details.recordedAt ?? at,
  });
  return { event, change: statusPayload(message, previousStatus === status ? null : previousStatus, at) };
}

/**
 * Notification.status from its messages (CONTRACT.md): SCHEDULED while nothing has been tried, PROCESSING while any
 * message is not final, then COMPLETED (at least one sent), SUPPRESSED/CANCELLED (all of them), or FAILED.
 */
export function rollup(messages: Pick<Message, 'status' | 'attempt'>[]): NotificationStatus {
  if (messages.length === 0) return NotificationStatus.FAILED;
  const pending = messages.filter((m) => !FINAL_STATUSES.has(m.status));
  if (pending.length > 0) {
    const untried = messages.every((m) => m.status === MessageStatus.SCHEDULED && m.attempt === 0);
    return untried ? NotificationStatus.SCHEDULED : NotificationStatus.PROCESSING;
  }
  if (messages.some((m) => SENT_STATUSES.has(m.status))) return NotificationStatus.COMPLETED;
  if (messages.every((m) => m.status === MessageStatus.SUPPRESSED)) return NotificationStatus.SUPPRESSED;
  if (messages.every((m) => m.status === MessageStatus.CANCELLED)) return NotificationStatus.CANCELLED;
  return NotificationStatus.FAILED;
}

/** What the roll-up reads of a message's status: a change that keeps all of it cannot change the notification. */
const rollupClass = (status: MessageStatus) =>
  [
    FINAL_STATUSES.has(status),
    SENT_STATUSES.has(status),
    status === MessageStatus.SUPPRESSED,
    status === MessageStatus.CANCELLED,
    status === MessageStatus.SCHEDULED,
  ].join();

/** False for a change such as SENT → DELIVERED, which leaves the notification's roll-up as it was. */
export function changesRollup(change: Pick<StatusChange, 'status' | 'previousStatus'>): boolean {
  return (
    change.previousStatus === null ||
    rollupClass(change.previousStatus as MessageStatus) !== rollupClass(change.status as MessageStatus)
  );
}

/**
 * Recomputes the roll-up of each notification under a row lock, so concurrent changes to sibling messages
 * serialize and the last one sees them all. The notifications are locked in id order and read with their messages
 * in one query each, however many there are.
 */
export async function refreshNotifications(
  em: EntityManager,
  tenantAndIds: { tenantId: string; notificationId: string }[],
  at: Date,
) {
  const unique = new Map(tenantAndIds.map((t) => [`${t.tenantId}:${t.notificationId}`, t]));
  if (unique.size === 0) return;
  const wanted = [...unique.values()];
  const notifications = await em.find(
    Notification,
    { $or: wanted.map(({ tenantId, notificationId }) => ({ id: notificationId, tenantId })) },
    { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true, orderBy: { id: 'asc' } },
  );
  if (notifications.length === 0) return;
  // What this transaction changed so far must be in the rows the roll-up reads.
  await em.flush();
  const rows = await em
    .getConnection()
    .execute<{ notification_id: string; status: MessageStatus; attempt: number }[]>(
      // Both columns, so the (tenant_id, notification_id) index answers it (knex spreads each array into a list).
      'select notification_id, status, attempt from message where tenant_id in (?) and notification_id in (?)',
      [[...new Set(notifications.map((n) => n.tenantId))], notifications.map((n) => n.id)],
      'all',
      em.getTransactionContext(),
    );
  const byNotification = groupBy(rows, (row) => row.notification_id);
  for (const notification of notifications) {
    const status = rollup(byNotification.get(notification.id) ?? []);
    if (status !== notification.status) {
      notification.status = status;
      notification.updatedAt = at;
    }
  }
}
