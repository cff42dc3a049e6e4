import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub, type PubSub } from '@graphql-yoga/subscription';
import { Redis } from 'ioredis';
import type { Logger } from '../config/logger';

/** What crosses processes for each status change; the message snapshot spares subscribers a database read. */
export interface MessageStatusPayload {
  tenantId: string;
  userId: string;
  notificationId: string;
  messageId: string;
  status: string;
  previousStatus: string | null;
  occurredAt: string;
  message: Record<string, unknown>;
}

/** An operational alert for a tenant (budget thresholds so far). */
export interface AlertPayload {
  tenantId: string;
  kind: 'budget';
  period: 'day' | 'month';
  /** 0.8 or 1.0: the share of the budget that was crossed. */
  threshold: number;
  spent: number;
  budget: number;
  occurredAt: string;
}

type Topics = Record<string, [tenantId: string, payload: MessageStatusPayload | AlertPayload]>;

export interface StatusPubSub {
  publish(payload: MessageStatusPayload): void;
  /**
   * Events of one tenant only (the tenant is part of the Redis channel name), or of one of its users: each status is
   * also published on a per-user channel, so 1,000 subscribers of 1,000 users each receive their own events instead
   * of every subscriber filtering everyone's.
   */
  subscribe(tenantId: string, userId?: string): AsyncIterable<MessageStatusPayload>;
  publishAlert(payload: AlertPayload): void;
  subscribeAlerts(tenantId: string): AsyncIterable<AlertPayload>;
  /** Publishes dropped because Redis did not take them (counted since start, for /metrics). */
  droppedPublishes(): number;
  close(): Promise<void>;
}

const waitReady = (client: Redis) =>
  client.status === 'ready'
    ? Promise.resolve()
    : new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve());
        client.once('end', () => reject(new Error('Redis connection ended before it was ready')));
      });

/**
 * What @graphql-yoga/redis-event-target (3.x) calls on its clients: `publish` on the publishing one, `on('message')`,
 * `subscribe` and `unsubscribe` on the subscribing one. It ignores the promises they return, so a command refused
 * while Redis is down would be an unhandled rejection that ends the process: these adapters settle every one.
 */
function settlingClients(
  publishClient: Redis,
  subscribeClient: Redis,
  onPublishError: (error: unknown) => void,
  onSubscribeError: (error: unknown) => void,
): { publishClient: Redis; subscribeClient: Redis } {
  const publisher = {
    publish: (channel: string, message: string) =>
      publishClient.publish(channel, message).catch((error: unknown) => {
        onPublishError(error);
        return 0;
      }),
  };
  const subscriber = {
    on: (event: 'message', listener: (channel: string, message: string) => void) => {
      subscribeClient.on(event, listener);
      return subscriber;
    },
    subscribe: (channel: string) => subscribeClient.subscribe(channel).catch(onSubscribeError),
    unsubscribe: (channel: string) => subscribeClient.unsubscribe(channel).catch(onSubscribeError),
  };
  return {
    publishClient: publisher as unknown as Redis,
    subscribeClient: subscriber as unknown as Redis,
  };
}

/**
 * Status events through Redis pub/sub (ioredis + @graphql-yoga/redis-event-target), so any instance can serve a
 * subscriber. Delivery is best effort, as Redis pub/sub itself is: while Redis is unreachable a publish is dropped at
 * once (no offline queue, so nothing piles up in memory), counted and logged once per outage; PostgreSQL keeps every
 * status, so a subscriber that missed some reads them back (`notification`, `message.events`). The subscribing
 * connection reconnects and resubscribes by itself (ioredis), so live subscriptions resume when Redis returns.
 */
export async function createStatusPubSub(
  redisUrl: string,
  keyPrefix: string,
  logger: Logger,
): Promise<StatusPubSub> {
  // Auto-pipelining: the publishes of one turn of the event loop (a group's status changes, each on two channels)
  // leave in one write instead of one syscall each.
  const redisPublisher = new Redis(redisUrl, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    lazyConnect: false,
    enableAutoPipelining: true,
  });
  // Subscriptions made while Redis is down wait in the offline queue and are sent on reconnect.
  const redisSubscriber = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
  // ioredis reconnects (and resubscribes) by itself; an outage shows on /ready, not as an unhandled 'error' event.
  redisPublisher.on('error', () => undefined);
  redisSubscriber.on('error', () => undefined);
  let dropped = 0;
  let dropping = false;
  redisPublisher.on('ready', () => {
    if (dropping) logger.info({ dropped }, 'status publishes resume: Redis is back');
    dropping = false;
  });
  const onPublishError = (error: unknown) => {
    dropped += 1;
    if (dropping) return;
    dropping = true;
    logger.error(
      { err: error },
      'status publish dropped: Redis unavailable (statuses are kept in PostgreSQL; live subscribers miss them until Redis returns)',
    );
  };
  const onSubscribeError = (error: unknown) => {
    // Only when the connection is closed for good (shutdown): nothing to resubscribe then.
    logger.debug({ err: error }, 'pub/sub subscription command not sent');
  };
  // Subscribing before the connection is ready loses the subscription.
  await Promise.all([waitReady(redisPublisher), waitReady(redisSubscriber)]);
  const pubsub: PubSub<Topics> = createPubSub<Topics>({
    eventTarget: createRedisEventTarget(
      settlingClients(redisPublisher, redisSubscriber, onPublishError, onSubscribeError),
    ),
  });
  const topic = `${keyPrefix}:message-status`;
  const userTopic = `${keyPrefix}:message-status-user`;
  const alertTopic = `${keyPrefix}:alerts`;
  // Tenant and user ids are free text: encoded so one cannot spell another's channel.
  const userChannel = (tenantId: string, userId: string) =>
    `${encodeURIComponent(tenantId)}:${encodeURIComponent(userId)}`;
  return {
    publish: (payload) => {
      pubsub.publish(topic, payload.tenantId, payload);
      pubsub.publish(userTopic, userChannel(payload.tenantId, payload.userId), payload);
    },
    subscribe: (tenantId, userId) =>
      (userId
        ? pubsub.subscribe(userTopic, userChannel(tenantId, userId))
        : pubsub.subscribe(topic, tenantId)) as AsyncIterable<MessageStatusPayload>,
    publishAlert: (payload) => pubsub.publish(alertTopic, payload.tenantId, payload),
    subscribeAlerts: (tenantId) => pubsub.subscribe(alertTopic, tenantId) as AsyncIterable<AlertPayload>,
    droppedPublishes: () => dropped,
    close: async () => {
      redisPublisher.disconnect();
      redisSubscriber.disconnect();
      await Promise.resolve();
    },
  };
}
