import type { Message } from '../entities';
import type { MessageStatusPayload } from '../pubsub/pubsub';
import type { Caller, ServiceDeps } from './deps';
import { messageSnapshot } from './message-status';
import type { QueryService } from './query.service';

export interface StatusFilter {
  notificationId?: string | null;
  userId?: string | null;
}

const currentStatus = (message: Message): MessageStatusPayload => ({
  tenantId: message.tenantId,
  userId: message.userId,
  notificationId: message.notificationId,
  messageId: message.id,
  status: message.status,
  previousStatus: null,
  occurredAt: message.updatedAt.toISOString(),
  message: messageSnapshot(message),
});

/**
 * The caller's tenant's status events, filtered. Subscribed before the current statuses are read, so that a
 * subscription by notificationId first emits where each message stands and then every change after it.
 */
export async function* statusStream(
  deps: ServiceDeps,
  queries: QueryService,
  caller: Caller,
  filter: StatusFilter,
): AsyncGenerator<MessageStatusPayload> {
  const matches = (p: MessageStatusPayload) =>
    (!filter.notificationId || p.notificationId === filter.notificationId) &&
    (!filter.userId || p.userId === filter.userId);
  const iterator = deps.pubsub.subscribe(caller.tenantId)[Symbol.asyncIterator]();
  // Starting next() registers the Redis subscription; it resolves with the first live event.
  let pending = iterator.next();
  try {
    if (filter.notificationId) {
      const notification = await queries.notification(caller, filter.notificationId);
      if (notification && (!filter.userId || notification.userId === filter.userId)) {
        for (const message of await queries.messagesOf(caller.tenantId, notification.id))
          yield currentStatus(message);
      }
    }
    for (;;) {
      const result = await pending;
      if (result.done) return;
      if (matches(result.value)) yield result.value;
      pending = iterator.next();
    }
  } finally {
    await iterator.return?.();
  }
}
