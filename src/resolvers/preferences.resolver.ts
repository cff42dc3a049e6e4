import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { Channel } from '../entities/enums';
import { NotificationPreferences } from '../entities/notification-preferences.entity';
import type { GraphQLContext } from './context';
import { NotificationPreferencesInput } from './inputs/preferences.input';

@Resolver(() => NotificationPreferences)
export class PreferencesResolver {
  @Mutation(() => NotificationPreferences)
  updateNotificationPreferences(
    @Arg('userId', () => ID) userId: string,
    @Arg('input', () => NotificationPreferencesInput) input: NotificationPreferencesInput,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.preferences.update(caller, userId, input);
  }

  @Mutation(() => NotificationPreferences, {
    description: 'Back to the defaults derived from the notification types',
  })
  resetNotificationPreferences(
    @Arg('userId', () => ID) userId: string,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.preferences.reset(caller, userId);
  }

  @Query(() => Date, {
    description:
      'The next allowed moment: SMS/WhatsApp at the preferred time, email on the preferred weekday at 09:00 (now if today), then out of quiet hours',
  })
  optimalSendTime(
    @Arg('userId', () => ID) userId: string,
    @Arg('channel', () => Channel) channel: Channel,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.preferences.optimalSendTime(caller, userId, channel);
  }
}
