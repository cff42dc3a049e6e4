import { AddressBlock } from './address-block.entity';
import { ChannelConfig } from './channel-config.entity';
import { AuditEntry } from './audit-entry.entity';
import { Consent, ConsentEvent, ConsentVerification } from './consent.entity';
import { ContactInfo } from './contact-info.entity';
import { DeliveryEvent } from './delivery-event.entity';
import { Device } from './device.entity';
import { InboundMessage } from './inbound-message.entity';
import { Message } from './message.entity';
import { Notification } from './notification.entity';
import { NotificationType } from './notification-type.entity';
import { NotificationPreferences } from './notification-preferences.entity';
import { ProviderEvent } from './provider-event.entity';
import { TenantSettings } from './tenant-settings.entity';

export * from './enums';
export {
  AddressBlock,
  ChannelConfig,
  AuditEntry,
  ContactInfo,
  DeliveryEvent,
  Device,
  InboundMessage,
  Message,
  Notification,
  NotificationType,
  ProviderEvent,
};
export { BlockKind } from './address-block.entity';
export {
  CHANNEL_CONFIG_PROVIDERS,
  SECRET_FIELDS,
  type ChannelConfigIdentifiers,
  type ChannelConfigProvider,
  type ChannelConfigSecrets,
  type ChannelConfigSenders,
  type SecretField,
} from './channel-config.entity';
export { Consent, ConsentEvent, ConsentStatus, ConsentVerification, WHOLE_CHANNEL } from './consent.entity';
export {
  ChannelPreference,
  Frequency,
  NotificationPreferences,
  QuietHours,
  TypePreference,
} from './notification-preferences.entity';
export { CapAction, CapPeriod, FrequencyCap } from './notification-type.entity';
export { SERVICE_WIDE } from './provider-event.entity';
export { TenantSettings, type DefaultSenders } from './tenant-settings.entity';
export { RenderedContent } from './message.entity';
export { Template } from './notification-type.entity';
export { WhatsappTemplate } from './whatsapp-template';
export type { ContentValue, RecipientValue } from './notification.entity';

export const ENTITIES = [
  ContactInfo,
  Device,
  NotificationType,
  Notification,
  Message,
  DeliveryEvent,
  ProviderEvent,
  AddressBlock,
  InboundMessage,
  Consent,
  ConsentEvent,
  ConsentVerification,
  NotificationPreferences,
  TenantSettings,
  ChannelConfig,
  AuditEntry,
];
