import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { NotificationType } from '../entities';
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

  @Query(() => [NotificationType])
  notificationTypes(@Ctx() { caller, services }: GraphQLContext) {
    return services.types.list(caller);
  }

  @Query(() => [ProviderInfo])
  providers(@Ctx() { services }: GraphQLContext): ProviderInfo[] {
    return services.queries.providers();
  }
}
