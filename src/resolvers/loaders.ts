import DataLoader from 'dataloader';
import type { Message } from '../entities';
import type { Caller, Services } from '../services';

/** Per-request batch loaders: a list of 20 notifications reads their messages in one query, not 20. */
export interface Loaders {
  messagesOfNotification: DataLoader<string, Message[]>;
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
  return {
    messagesOfNotification: new DataLoader(async (notificationIds: readonly string[]) => {
      const messages = await services.queries.messagesOfMany(caller.tenantId, [...notificationIds]);
      const byNotification = new Map<string, Message[]>(notificationIds.map((id) => [id, []]));
      for (const message of messages) byNotification.get(message.notificationId)?.push(message);
      return notificationIds.map((id) => byNotification.get(id) ?? []);
    }, options),
  };
}
