import type { EntityManager } from '@mikro-orm/postgresql';
import { Channel, Consent, ContactInfo, NotificationPreferences, type RecipientValue } from '../entities';
import { findBlocks, normalizeAddress, type Block } from './address-block';
import { groupConsents, type ChannelConsents } from './consent-ledger';
import { contactAddress } from './contact-address';

/** A fact that was loaded (its value may be null: "looked, none") or not loaded at all (undefined). */
type Loaded<T> = { value: T } | undefined;

/**
 * What the policy reads about many users at once — contacts, address blocks, consents, preferences — so a batch of
 * 1,000 sends reads each kind once instead of once per send. Anything not preloaded (e.g. a fallback channel's
 * address) is read by the policy as usual.
 */
export class PolicyFacts {
  private constructor(
    private readonly contacts: Map<string, ContactInfo | null>,
    private readonly blocks: Map<Channel, { looked: Set<string>; found: Map<string, Block> }>,
    private readonly consents: Map<string, Consent[]>,
    private readonly preferences: Map<string, NotificationPreferences | null>,
  ) {}

  static async load(
    em: EntityManager,
    tenantId: string,
    sends: { userId: string; to?: RecipientValue | null }[],
  ): Promise<PolicyFacts> {
    const users = [...new Set(sends.map((s) => s.userId).filter((u) => typeof u === 'string' && u !== ''))];
    // One after another: `em` is often a transaction, whose one connection takes one query at a time (pg 8 warns
    // about, and pg 9 refuses, a query issued while another is running on the same client).
    const contactRows = await em.find(ContactInfo, { tenantId, userId: { $in: users } });
    const consentRows = await em.find(Consent, { tenantId, userId: { $in: users } }, { refresh: true });
    const preferenceRows = await em.find(NotificationPreferences, { tenantId, userId: { $in: users } });
    const contacts = new Map<string, ContactInfo | null>(users.map((u) => [u, null]));
    contactRows.forEach((c) => contacts.set(c.userId, c));
    const consents = new Map<string, Consent[]>();
    for (const row of consentRows) {
      const key = `${row.userId}|${row.channel}`;
      consents.set(key, [...(consents.get(key) ?? []), row]);
    }
    const preferences = new Map<string, NotificationPreferences | null>(users.map((u) => [u, null]));
    preferenceRows.forEach((p) => preferences.set(p.userId, p));

    // Every address a send could use: the one it names, else the stored one.
    const blocks = new Map<Channel, { looked: Set<string>; found: Map<string, Block> }>();
    for (const channel of [Channel.EMAIL, Channel.SMS, Channel.WHATSAPP]) {
      const addresses = sends
        .map((s) => contactAddress(s.to, channel) ?? contactAddress(contacts.get(s.userId), channel))
        .filter((a): a is string => typeof a === 'string' && a !== '');
      const found = await findBlocks(em, channel, addresses, tenantId);
      blocks.set(channel, { looked: new Set(addresses.map((a) => normalizeAddress(channel, a))), found });
    }
    return new PolicyFacts(contacts, blocks, consents, preferences);
  }

  contact(userId: string): Loaded<ContactInfo | null> {
    return this.contacts.has(userId) ? { value: this.contacts.get(userId)! } : undefined;
  }

  block(channel: Channel, address: string): Loaded<Block | undefined> {
    const normalized = normalizeAddress(channel, address);
    const loaded = this.blocks.get(channel);
    return loaded?.looked.has(normalized) ? { value: loaded.found.get(normalized) } : undefined;
  }

  consentsOf(userId: string, channel: Channel): Loaded<ChannelConsents> {
    if (!this.contacts.has(userId)) return undefined;
    return { value: groupConsents(this.consents.get(`${userId}|${channel}`) ?? []) };
  }

  preferencesOf(userId: string): Loaded<NotificationPreferences | null> {
    return this.preferences.has(userId) ? { value: this.preferences.get(userId)! } : undefined;
  }
}
