import type { MessageStatusPayload } from '../pubsub/pubsub';
import type { Caller, ServiceDeps } from './deps';
import { statusPayload } from './message-status';
import type { QueryService } from './query.service';
import type { StatusBufferRegistry } from './status-buffer';

export interface StatusFilter {
  notificationId?: string | null;
  userId?: string | null;
}

/**
 * The caller's tenant's status events, filtered, through a bounded buffer (StatusBuffer). The Redis subscription is
 * drained continuously into the buffer, so a subscriber that reads slowly (or not at all) costs at most one
 * buffer, never an unbounded queue. Subscribed before the current statuses are read, so that a subscription by
 * notificationId first emits where each message stands and then every change after it.
 *
 * An explicit iterator rather than a generator: `return()` (the client went away) must end it at once, even while
 * it waits for an event, or an idle subscription would hold its Redis listener until its tenant's next event.
 */
export function statusStream(
  deps: ServiceDeps,
  queries: QueryService,
  buffers: StatusBufferRegistry,
  caller: Caller,
  filter: StatusFilter,
): AsyncIterableIterator<MessageStatusPayload> {
  const matches = (p: MessageStatusPayload) =>
    (!filter.notificationId || p.notificationId === filter.notificationId) &&
    (!filter.userId || p.userId === filter.userId);
  const buffer = buffers.open();
  const source = deps.pubsub.subscribe(caller.tenantId, filter.userId ?? undefined)[Symbol.asyncIterator]();
  // Starting next() registers the Redis subscription; the drain loop then keeps pulling whatever the consumer does.
  let pending = source.next();
  void (async () => {
    for (;;) {
      const result = await pending;
      if (result.done) break;
      if (matches(result.value)) buffer.push(result.value);
      pending = source.next();
    }
  })().catch((error: unknown) => deps.logger.warn({ err: error }, 'status subscription ended'));

  const current = (async () => {
    if (!filter.notificationId) return [];
    const notification = await queries.notification(caller, filter.notificationId);
    if (!notification || (filter.userId && notification.userId !== filter.userId)) return [];
    return (await queries.messagesOf(caller.tenantId, notification.id)).map((m) =>
      statusPayload(m, null, m.updatedAt),
    );
  })();
  // Awaited by the first next(); until then a failed read must not count as an unhandled rejection.
  current.catch(() => undefined);
  let initial: MessageStatusPayload[] | undefined;
  let finished = false;

  const finish = async (): Promise<IteratorResult<MessageStatusPayload>> => {
    if (!finished) {
      finished = true;
      buffers.retire(buffer);
      await source.return?.();
    }
    return { done: true, value: undefined };
  };

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (finished) return { done: true, value: undefined };
      initial ??= await current;
      const first = initial.shift();
      if (first) return { done: false, value: first };
      const event = await buffer.next();
      return event ? { done: false, value: event } : finish();
    },
    return: finish,
    async throw(error: unknown) {
      await finish();
      throw error;
    },
  };
}
