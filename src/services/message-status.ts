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
  const { tenantId: _tenant, leaseUntil: _lease, ...visible } = message;
  return JSON.parse(JSON.stringify(visible)) as Record<string, unknown>;
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
  const previousStatus = details.initial ? null : message.status;
  message.status = status;
  (message as unknown as Record<string, Date>)[TIMESTAMP_OF[status] as string] = at;
  message.updatedAt = at;
  if (details.errorCode !== undefined) {
    message.errorCode = details.errorCode;
    message.errorMessage = details.errorMessage ?? null;
  }
  const event = em.create(DeliveryEvent, {
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
    createdAt: details.recordedAt ?? at,
  });
  em.persist(event);
  return statusPayload(message, previousStatus === status ? null : previousStatus, at);
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

/**
 * Recomputes the roll-up of each notification under a row lock, so concurrent changes to sibling messages
 * serialize and the last one sees them all.
 */
export async function refreshNotifications(
  em: EntityManager,
  tenantAndIds: { tenantId: string; notificationId: string }[],
  at: Date,
) {
  const unique = new Map(tenantAndIds.map((t) => [`${t.tenantId}:${t.notificationId}`, t]));
  for (const { tenantId, notificationId } of unique.values()) {
    const notification = await em.findOne(
      Notification,
      { id: notificationId, tenantId },
      { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true },
    );
    if (!notification) continue;
    await em.flush();
    const messages = await em
      .getConnection()
      .execute<{ status: MessageStatus; attempt: number }[]>(
        'select status, attempt from message where tenant_id = ? and notification_id = ?',
        [tenantId, notificationId],
        'all',
        em.getTransactionContext(),
      );
    const status = rollup(messages);
    if (status !== notification.status) {
      notification.status = status;
      notification.updatedAt = at;
    }
  }
}
