import type { EntityManager } from '@mikro-orm/postgresql';
import type { Channel } from '../entities';
import {
  CapAction,
  ConsentStatus,
  ContactInfo,
  Frequency,
  Message,
  MessageStatus,
  NotificationCategory,
  NotificationPreferences,
  NotificationType,
  Priority,
  SENT_STATUSES,
} from '../entities';
import { findBlocks, normalizeAddress } from './address-block';
import { consentsOf } from './consent-ledger';
import { storedAddress } from './contact-address';
import type { Caller, ServiceDeps } from './deps';
import type { PolicyFacts } from './policy-facts';
import { periodWindow, quietWindowEnd } from './schedule-rules';
import { assertStorable, quote } from './input-guard';

/**
 * The documented reasons (checkConsent.reason and Message.error.code of a SUPPRESSED message):
 * - explicit_consent: MARKETING, and the user granted it (for the type or the whole channel)
 * - transactional_allowed: TRANSACTIONAL (or an unknown type sent with explicit content), no opt-out
 * - opted_out: the user revoked the channel (or this type), replied STOP, or unsubscribed
 * - suppressed_address: the address bounced, is invalid, or reported spam
 * - no_consent: MARKETING without a grant
 * - pending_verification: MARKETING whose SMS/WhatsApp grant awaits its code
 * - channel_disabled / type_disabled: the user's preferences turn the channel (or this type on it) off
 * - no_address: the user has no address on the channel
 * - frequency_capped: over the type's cap, when the type says suppress
 * CRITICAL priority skips preferences and quiet hours, never an opt-out, a suppression or a missing consent.
 */
export type Decision =
  | { action: 'send'; reason: string }
  | { action: 'suppress'; reason: string; message: string }
  | { action: 'defer'; until: Date; reason: string; message: string };

export interface PolicyInput {
  tenantId: string;
  userId: string;
  channel: Channel;
  /** The address the message goes to; undefined = look it up (checkConsent). */
  address?: string;
  typeKey: string;
  type: NotificationType | null;
  priority: Priority;
  /** Timing rules (quiet hours, caps) apply: at accept and just before sending. */
  timing: 'none' | 'accept' | 'send';
  /** The message being decided, left out of the cap counts. */
  messageId?: string;
  /** The user's contact info when the caller already read it; undefined = read it here. */
  contact?: ContactInfo | null;
  /** Facts preloaded for a whole batch; whatever they lack is read here. */
  facts?: PolicyFacts;
}

const IN_FLIGHT_OR_SENT = [MessageStatus.SENDING, ...SENT_STATUSES];

/** Decides, per message, whether it may go now, later, or not at all, and why. */
export class PolicyService {
  constructor(private readonly deps: ServiceDeps) {}

  preferencesOf(em: EntityManager, tenantId: string, userId: string) {
    return em.findOne(NotificationPreferences, { tenantId, userId });
  }

  private async count(
    em: EntityManager,
    input: PolicyInput,
    window: { start: Date; end: Date },
    filter: Partial<Message>,
  ) {
    return em.count(Message, {
      tenantId: input.tenantId,
      userId: input.userId,
      channel: input.channel,
      status: { $in: IN_FLIGHT_OR_SENT },
      $or: [{ sentAt: { $gte: window.start, $lt: window.end } }, { status: MessageStatus.SENDING }],
      ...(input.messageId ? { id: { $ne: input.messageId } } : {}),
      ...filter,
    });
  }

  /** checkConsent: the same decision a send would get now, without its timing (quiet hours and caps defer, not block). */
  async check(
    caller: Caller,
    input: { userId: string; channel: Channel; typeKey: string; priority?: Priority },
  ) {
    assertStorable({ userId: input.userId, type: input.typeKey }, '');
    const em = this.deps.orm.em.fork() as EntityManager;
    const type = await em.findOne(NotificationType, { tenantId: caller.tenantId, key: input.typeKey });
    const decision = await this.decide(em, {
      tenantId: caller.tenantId,
      userId: input.userId,
      channel: input.channel,
      typeKey: input.typeKey,
      type,
      priority: input.priority ?? type?.defaultPriority ?? Priority.MEDIUM,
      timing: 'none',
    });
    return { canSend: decision.action !== 'suppress', reason: decision.reason };
  }

  async decide(em: EntityManager, input: PolicyInput): Promise<Decision> {
    const now = this.deps.clock.now();
    const critical = input.priority === Priority.CRITICAL;
    const { facts } = input;
    const contact =
      input.contact !== undefined
        ? input.contact
        : (
            facts?.contact(input.userId) ?? {
              value: await em.findOne(ContactInfo, { tenantId: input.tenantId, userId: input.userId }),
            }
          ).value;
    const address =
      input.address ?? (await storedAddress(em, input.tenantId, input.userId, input.channel, contact));
    if (!address)
      return {
        action: 'suppress',
        reason: 'no_address',
        message: `no ${input.channel} address for this user`,
      };

    const block = (
      facts?.block(input.channel, address) ?? {
        value: (await findBlocks(em, input.channel, [address], input.tenantId)).get(
          normalizeAddress(input.channel, address),
        ),
      }
    ).value;
    if (block) return { action: 'suppress', reason: block.code, message: block.message };

    const consents = (
      facts?.consentsOf(input.userId, input.channel) ?? {
        value: await consentsOf(em, input.tenantId, input.userId, input.channel),
      }
    ).value;
    if (consents.channel?.status === ConsentStatus.REVOKED) {
      return { action: 'suppress', reason: 'opted_out', message: `the user opted out of ${input.channel}` };
    }
    const forType = consents.byType.get(input.typeKey);
    if (forType?.status === ConsentStatus.REVOKED) {
      return {
        action: 'suppress',
        reason: 'opted_out',
        message: `the user opted out of ${quote(input.typeKey)} on ${input.channel}`,
      };
    }

    const preferences = (
      facts?.preferencesOf(input.userId) ?? {
        value: await this.preferencesOf(em, input.tenantId, input.userId),
      }
    ).value;
    if (!critical && preferences) {
      if (preferences.channels.some((c) => c.channel === input.channel && !c.enabled)) {
        return {
          action: 'suppress',
          reason: 'channel_disabled',
          message: `the user turned ${input.channel} off`,
        };
      }
      if (
        preferences.types.some((t) => t.type === input.typeKey && t.channel === input.channel && !t.enabled)
      ) {
        return {
          action: 'suppress',
          reason: 'type_disabled',
          message: `the user turned ${quote(input.typeKey)} off on ${input.channel}`,
        };
      }
    }

    const marketing = input.type?.category === NotificationCategory.MARKETING;
    let consentReason = 'transactional_allowed';
    if (marketing) {
      const statuses = [forType?.status, consents.channel?.status];
      if (statuses.includes(ConsentStatus.GRANTED)) consentReason = 'explicit_consent';
      else if (statuses.includes(ConsentStatus.PENDING_VERIFICATION)) {
        return {
          action: 'suppress',
          reason: 'pending_verification',
          message: `${input.channel} consent awaits its verification code`,
        };
      } else
        return {
          action: 'suppress',
          reason: 'no_consent',
          message: `${quote(input.typeKey)} is MARKETING and the user has not consented on ${input.channel}`,
        };
    }

    if (input.timing === 'none' || critical) return { action: 'send', reason: consentReason };
    const timezone = contact?.timezone;
    const quietEnd = quietWindowEnd(now, timezone, preferences?.quietHours);
    if (quietEnd)
      return {
        action: 'defer',
        until: quietEnd,
        reason: 'quiet_hours',
        message: "inside the user's quiet hours",
      };
    if (input.timing !== 'send') return { action: 'send', reason: consentReason };

    // Counting caps just before sending: what was sent (or is being sent) decides, not what was accepted.
    if (marketing && preferences && preferences.frequency !== Frequency.IMMEDIATE) {
      const window = periodWindow(now, timezone, preferences.frequency === Frequency.DAILY ? 'DAY' : 'WEEK');
      if ((await this.count(em, input, window, { category: NotificationCategory.MARKETING })) >= 1) {
        return {
          action: 'defer',
          until: window.end,
          reason: 'frequency',
          message: `one MARKETING ${input.channel} message per ${preferences.frequency === Frequency.DAILY ? 'day' : 'week'}`,
        };
      }
    }
    const cap = input.type?.frequencyCap;
    if (cap) {
      const window = periodWindow(now, timezone, cap.period);
      if ((await this.count(em, input, window, { typeKey: input.typeKey })) >= cap.limit) {
        const message = `${quote(input.typeKey)} is capped at ${cap.limit} per ${cap.period.toLowerCase()} on ${input.channel}`;
        return cap.action === CapAction.SUPPRESS
          ? { action: 'suppress', reason: 'frequency_capped', message }
          : { action: 'defer', until: window.end, reason: 'frequency_capped', message };
      }
    }
    return { action: 'send', reason: consentReason };
  }
}
