import { Arg, Ctx, FieldResolver, Float, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Message, Notification } from '../entities';
import { sumUsd } from '../services/cost';
import { encodeCursor, type NotificationPage } from '../services/query.service';
import type { GraphQLContext } from './context';
import { NotificationFilter } from './inputs/notification-filter.input';
import { SendNotificationInput } from './inputs/send-notification.input';
import { BatchSendPayload, NotificationConnection, SendNotificationPayload } from './types/payloads.type';

export const toConnection = (page: NotificationPage): NotificationConnection => ({
  edges: page.nodes.map((node) => ({ cursor: encodeCursor(node), node })),
  nodes: page.nodes,
  pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage },
});

@Resolver(() => Notification)
export class NotificationResolver {
  @Mutation(() => SendNotificationPayload, {
    description: 'Accepts a notification durably; messages go out asynchronously.',
  })
  async sendNotification(
    @Arg('input', () => SendNotificationInput) input: SendNotificationInput,
    @Ctx() { caller, services }: GraphQLContext,
  ): Promise<SendNotificationPayload> {
    return { notification: await services.notifications.send(caller, input) };
  }

  @Mutation(() => BatchSendPayload, {
    description:
      'Up to 1,000 sends; each is validated on its own and a bad one comes back as data with its index',
  })
  sendNotifications(
    @Arg('inputs', () => [SendNotificationInput]) inputs: SendNotificationInput[],
    @Ctx() { caller, services }: GraphQLContext,
  ): Promise<BatchSendPayload> {
    return services.notifications.sendMany(caller, inputs);
  }

  @Mutation(() => Notification, {
    description:
      'Cancels every message not yet handed to a provider; NOT_CANCELLABLE names those already sent',
  })
  cancelNotification(@Arg('id', () => ID) id: string, @Ctx() { caller, services }: GraphQLContext) {
    return services.notifications.cancel(caller, id);
  }

  @Query(() => Notification, { nullable: true })
  notification(@Arg('id', () => ID) id: string, @Ctx() { caller, services }: GraphQLContext) {
    return services.queries.notification(caller, id);
  }

  @Query(() => NotificationConnection, { description: 'Newest first; cursor pagination.' })
  async notifications(
    @Ctx() { caller, services }: GraphQLContext,
    @Arg('filter', () => NotificationFilter, { nullable: true }) filter?: NotificationFilter,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<NotificationConnection> {
    return toConnection(await services.queries.notifications(caller, filter ?? {}, first ?? 20, after));
  }

  @FieldResolver(() => [Message])
  messages(@Root() notification: Notification, @Ctx() { loaders }: GraphQLContext) {
    return loaders.messagesOfNotification.load(notification.id);
  }

  @FieldResolver(() => Float, { nullable: true, description: 'Sum of the known message costs, USD' })
  async cost(@Root() notification: Notification, @Ctx() { loaders }: GraphQLContext) {
    const messages = await loaders.messagesOfNotification.load(notification.id);
    const known = messages.filter((m) => typeof m.cost === 'number');
    // Rounded to the micro-dollar: a plain float sum shows 0.013000000000000001 for four channels.
    return known.length === 0 ? null : sumUsd(known.map((m) => m.cost ?? 0));
  }
}
