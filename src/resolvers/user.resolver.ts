import { Arg, Ctx, FieldResolver, Int, Resolver, Root } from 'type-graphql';
import { ContactInfo, Device } from '../entities';
import { Consent, ConsentEvent } from '../entities/consent.entity';
import { NotificationPreferences } from '../entities/notification-preferences.entity';
import type { GraphQLContext } from './context';
import { NotificationFilter } from './inputs/notification-filter.input';
import { toConnection } from './notification.resolver';
import { NotificationConnection } from './types/payloads.type';
import { User } from './types/user.type';

@Resolver(() => User)
export class UserResolver {
  @FieldResolver(() => ContactInfo, { nullable: true })
  contact(@Root() user: User, @Ctx() { caller, services }: GraphQLContext) {
    return services.contacts.getContact(caller, user.id);
  }

  @FieldResolver(() => [Device])
  devices(
    @Root() user: User,
    @Ctx() { caller, services }: GraphQLContext,
    @Arg('includeInactive', () => Boolean, { nullable: true, defaultValue: false }) includeInactive?: boolean,
  ) {
    return services.contacts.listDevices(caller, user.id, includeInactive ?? false);
  }

  @FieldResolver(() => [Consent], {
    description: 'Current consent per channel × type (type null = the whole channel)',
  })
  consents(@Root() user: User, @Ctx() { caller, services }: GraphQLContext) {
    return services.consents.list(caller, user.id);
  }

  @FieldResolver(() => [ConsentEvent], {
    description:
      'The consent ledger in the order its entries were applied, oldest first (the newest 100): grants, verifications, revocations, with proof',
  })
  consentHistory(@Root() user: User, @Ctx() { caller, services }: GraphQLContext) {
    return services.consents.history(caller, user.id);
  }

  @FieldResolver(() => NotificationPreferences, { description: 'Stored preferences, or the defaults' })
  notificationPreferences(@Root() user: User, @Ctx() { caller, services }: GraphQLContext) {
    return services.preferences.get(caller, user.id);
  }

  @FieldResolver(() => NotificationConnection)
  async notifications(
    @Root() user: User,
    @Ctx() { caller, services }: GraphQLContext,
    @Arg('filter', () => NotificationFilter, { nullable: true }) filter?: NotificationFilter,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<NotificationConnection> {
    const page = await services.queries.notifications(
      caller,
      { ...filter, userId: user.id },
      first ?? 20,
      after,
    );
    return toConnection(page);
  }
}
