import { Channel } from '../entities/enums';
import { INPUT_LIMITS } from './input-limits';

export const CHANNELS = Object.values(Channel).length;

/** Notification types one tenant may have (upsertNotificationType refuses a new key past it). */
export const TYPES_PER_TENANT = 200;

/**
 * The most messages one notification can ever have, the true bound of `Notification.messages`:
 * - PUSH: up to 100 device tokens (`to.deviceTokens`, or the user's newest active devices, INPUT_LIMITS) plus one
 *   `topic:` and one `condition:` message;
 * - EMAIL, SMS, WHATSAPP: one address each;
 * - fallbacks (at accept and at dispatch) only go to a channel the notification has no message on yet, one message
 *   each (dispatch.service `fallback`, under the notification's fallback lock), so they never add to the above.
 * = 100 + 2 + 3 = 105.
 */
export const MESSAGES_PER_NOTIFICATION =
  Math.max(INPUT_LIMITS.deviceTokensPerSend.max, INPUT_LIMITS.activeDevicesPerUser.max) + 2 + (CHANNELS - 1);

/**
 * Every list Herald serves has a bound; these are the ones a resolver enforces itself (a SQL `limit` or a write-time
 * cap), so that the query cost estimate (src/server/query-limits.ts) is a true worst case, not a guess. Items are
 * rows or objects of the list.
 */
export const LIST_LIMITS = {
  /** `Message.events`: a message's newest 50 events (oldest first). Provider events (every open, every click) are
   * all stored, so a message's history has no bound of its own. */
  eventsPerMessage: { max: 50, unit: 'items' },
  /** `User.devices`: at most 100, newest first; active ones are kept at INPUT_LIMITS.activeDevicesPerUser, inactive
   * ones accumulate without bound (includeInactive: true). */
  devicesListed: { max: INPUT_LIMITS.activeDevicesPerUser.max, unit: 'items' },
  /** `User.consentHistory`: the newest 100 ledger entries (oldest first); the ledger itself only grows. */
  consentHistoryListed: { max: 100, unit: 'items' },
  /** `Query.notificationTypes`, `NotificationPreferences.types` per channel: TYPES_PER_TENANT, enforced at upsert. */
  typesPerTenant: { max: TYPES_PER_TENANT, unit: 'items' },
  /** `NotificationType.templates`: channel × locale, enforced at upsert (4 channels × 10 locales). */
  templatesPerType: { max: CHANNELS * 10, unit: 'items' },
  /** `User.consents`: one per channel × (each known type, or the whole channel); types must exist (grantConsent). */
  consentsPerUser: { max: CHANNELS * (TYPES_PER_TENANT + 1), unit: 'items' },
  /** grant/verify/revokeConsent answer the consents of one channel: the whole channel or each known type. */
  consentsPerChannel: { max: TYPES_PER_TENANT + 1, unit: 'items' },
  /** `Query.providers`: one per ProviderId (twilio-sms, twilio-whatsapp, sendgrid, fcm, ses, sns). */
  providers: { max: 6, unit: 'items' },
  /** `Query.channelConfigs`: a tenant's own provider accounts, enforced at createChannelConfig. */
  channelConfigsPerTenant: { max: 50, unit: 'items' },
  /** `NotificationPreferences.types`: type × channel entries, enforced at update (types need not exist yet). */
  preferenceTypes: { max: CHANNELS * TYPES_PER_TENANT, unit: 'items' },
} as const;
