import type { EntityManager } from '@mikro-orm/postgresql';
import { Channel, ContactInfo, Device } from '../entities';

/** A stored contact's address on a channel (push has none here: devices hold push tokens). */
export function contactAddress(
  contact: ContactInfo | null | undefined,
  channel: Channel,
): string | undefined {
  if (channel === Channel.EMAIL) return contact?.email ?? undefined;
  if (channel === Channel.SMS) return contact?.phone ?? undefined;
  if (channel === Channel.WHATSAPP) return contact?.whatsapp ?? undefined;
  return undefined;
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
