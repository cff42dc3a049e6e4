import { ChannelConfigResolver } from './channel-config.resolver';
import { AuditResolver } from './audit.resolver';
import { ConsentEventResolver, ConsentResolver } from './consent.resolver';
import { ContactResolver } from './contact.resolver';
import { MessageResolver } from './message.resolver';
import { NotificationTypeResolver } from './notification-type.resolver';
import { NotificationResolver } from './notification.resolver';
import { PreferencesResolver } from './preferences.resolver';
import { SubscriptionResolver } from './subscription.resolver';
import { TenantSettingsResolver } from './tenant-settings.resolver';
import { UserResolver } from './user.resolver';

export { referenceResolvers } from './references';
export type { GraphQLContext } from './context';

export const RESOLVERS = [
  NotificationResolver,
  MessageResolver,
  UserResolver,
  ContactResolver,
  NotificationTypeResolver,
  SubscriptionResolver,
  ConsentResolver,
  ConsentEventResolver,
  PreferencesResolver,
  TenantSettingsResolver,
  ChannelConfigResolver,
  AuditResolver,
] as const;
