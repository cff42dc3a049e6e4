import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub, type PubSub } from '@graphql-yoga/subscription';
import { Redis } from 'ioredis';

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
  close(): Promise<void>;
}

const waitReady = (client: Redis) =>
  client.status === 'ready'
    ? Promise.resolve()
    : new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve());
        client.once('end', () => reject(new Error('Redis connection ended before it was ready')));
      });

/** Status events through Redis pub/sub (ioredis + @graphql-yoga/redis-event-target), so any instance can serve a subscriber. */
export async function createStatusPubSub(redisUrl: string, keyPrefix: string): Promise<StatusPubSub> {
  // Auto-pipelining: the publishes of one turn of the event loop (a group's status changes, each on two channels)
  // leave in one write instead of one syscall each.
  const publishClient = new Redis(redisUrl, {
    maxRetriesPerRequest: 1,
    lazyConnect: false,
    enableAutoPipelining: true,
  });
  const subscribeClient = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
  // ioredis reconnects (and resubscribes) by itself; an outage shows on /ready, not as an unhandled 'error' event.
  publishClient.on('error', () => undefined);
  subscribeClient.on('error', () => undefined);
  // Subscribing before the connection is ready loses the subscription.
  await Promise.all([waitReady(publishClient), waitReady(subscribeClient)]);
  const pubsub: PubSub<Topics> = createPubSub<Topics>({
    eventTarget: createRedisEventTarget({ publishClient, subscribeClient }),
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
    close: async () => {
      publishClient.disconnect();
      subscribeClient.disconnect();
      await Promise.resolve();
    },
  };
}
