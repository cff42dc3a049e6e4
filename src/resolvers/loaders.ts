import DataLoader from 'dataloader';
import type { DeliveryEvent, Message, RenderedContent } from '../entities';
import type { Caller, Services } from '../services';

/**
 * Per-request batch loaders: a list of 20 notifications reads their messages in one query, not 20, and the events of
 * all those messages in one more.
 */
export interface Loaders {
  messagesOfNotification: DataLoader<string, Message[]>;
  eventsOfMessage: DataLoader<string, DeliveryEvent[]>;
  /** Message.content, a lazy column: read only for the messages whose content a query selects. */
  contentOfMessage: DataLoader<string, RenderedContent | null>;
  /**
   * Gives back what the content reads reserved in GRAPHQL_INFLIGHT_RESPONSE_BYTES; call once the response is written
   * (more than once is harmless).
   */
  release(): void;
}

/**
 * `cache: false` for websocket operations: a subscription lives for many events and must not answer later ones from
 * what it read for the first (batching within a tick still applies).
 */
export function createLoaders(
  caller: Caller,
  services: Services,
  options: { cache?: boolean } = {},
): Loaders {
  // One request (or one websocket operation) reads at most a response's worth of stored content.
  const contentBudget = services.queries.contentBudget();
  return {
    messagesOfNotification: new DataLoader(async (notificationIds: readonly string[]) => {
      const messages = await services.queries.messagesOfMany(caller.tenantId, [...notificationIds]);
      const byNotification = new Map<string, Message[]>(notificationIds.map((id) => [id, []]));
      for (const message of messages) byNotification.get(message.notificationId)?.push(message);
      return notificationIds.map((id) => byNotification.get(id) ?? []);
    }, options),
    eventsOfMessage: new DataLoader(async (messageIds: readonly string[]) => {
      const events = await services.queries.eventsOfMany(caller.tenantId, [...messageIds]);
      const byMessage = new Map<string, DeliveryEvent[]>(messageIds.map((id) => [id, []]));
      for (const event of events) byMessage.get(event.messageId)?.push(event);
      return messageIds.map((id) => byMessage.get(id) ?? []);
    }, options),
    contentOfMessage: new DataLoader<string, RenderedContent | null>(
      async (messageIds: readonly string[]) => {
        const contents = await services.queries.contentOfMany(
          caller.tenantId,
          [...messageIds],
          contentBudget,
        );
        return messageIds.map((id) => contents.get(id) ?? null);
      },
      options,
    ),
    release: () => contentBudget.release(),
  };
}
