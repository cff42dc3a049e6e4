import type { EntityManager } from '@mikro-orm/postgresql';
import { Channel, ContactInfo, Device, type RecipientValue } from '../entities';

/** A contact's (or a send's `to`) address on a channel (push has none here: devices hold push tokens). */
export function contactAddress(
  contact: Pick<RecipientValue, 'email' | 'phone' | 'whatsapp'> | null | undefined,
  channel: Channel,
): string | undefined {
  if (channel === Channel.EMAIL) return contact?.email ?? undefined;
  if (channel === Channel.SMS) return contact?.phone ?? undefined;
  if (channel === Channel.WHATSAPP) return contact?.whatsapp ?? undefined;
  return undefined;
}

/** The address a send named for a channel in its `to` (push: its first device token). */
export function inlineAddress(
  recipient: RecipientValue | null | undefined,
  channel: Channel,
): string | undefined {
  if (!recipient) return undefined;
  if (channel === Channel.PUSH) return recipient.deviceTokens?.[0] ?? undefined;
  return contactAddress(recipient, channel);
}

/** The user's stored address on a channel: contact info, or for push the oldest active device. */
export async function storedAddress(
  em: EntityManager,
  tenantId: string,
  userId: string,
  channel: Channel,
  contact?: ContactInfo | null,
): Promise<string | undefined> {
  if (channel !== Channel.PUSH) {
    return contactAddress(
      contact !== undefined ? contact : await em.findOne(ContactInfo, { tenantId, userId }),
      channel,
    );
  }
  const device = await em.findOne(
    Device,
    { tenantId, userId, active: true },
    { orderBy: { createdAt: 'asc' } },
  );
  return device?.token;
}
