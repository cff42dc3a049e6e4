import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { NotificationType, RenderedContent } from '../entities';
import { Channel } from '../entities/enums';
import { GraphQLJSON } from 'graphql-scalars';
import type { GraphQLContext } from './context';
import { NotificationTypeInput } from './inputs/notification-type.input';
import { ProviderInfo } from './types/payloads.type';

@Resolver(() => NotificationType)
export class NotificationTypeResolver {
  @Mutation(() => NotificationType, {
    description: 'Creates or updates a type by key; templates are syntax-checked',
  })
  upsertNotificationType(
    @Arg('input', () => NotificationTypeInput) input: NotificationTypeInput,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.types.upsert(caller, input);
  }

  @Query(() => RenderedContent, {
    description: 'Renders a type template without sending (user locale fallback applies)',
  })
  previewNotification(
    @Arg('type', () => String) type: string,
    @Arg('channel', () => Channel) channel: Channel,
    @Ctx() { caller, services }: GraphQLContext,
    @Arg('locale', () => String, { nullable: true }) locale?: string,
    @Arg('data', () => GraphQLJSON, { nullable: true }) data?: Record<string, unknown>,
  ) {
    return services.types.preview(caller, { type, channel, locale, data });
  }

  @Query(() => [NotificationType])
  notificationTypes(@Ctx() { caller, services }: GraphQLContext) {
    return services.types.list(caller);
  }

  @Query(() => [ProviderInfo])
  providers(@Ctx() { services }: GraphQLContext): Promise<ProviderInfo[]> {
    return services.queries.providers();
  }
}
