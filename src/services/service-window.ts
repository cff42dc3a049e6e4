import type { EntityManager } from '@mikro-orm/postgresql';
import { runRaw } from '../persistence/raw';
import { Channel } from '../entities';
import { normalizeAddress } from './address-block';
import { OutsideServiceWindowError } from './errors';

/**
 * WhatsApp's customer service window: a business may send free-form messages to a WhatsApp user only within 24
 * hours of that user's last message to the business's number; outside it, only approved templates are delivered.
 * Sources: Meta, "Customer service windows" (https://developers.facebook.com/docs/whatsapp/pricing#customer-service-windows);
 * Twilio, "The 24-hour window" (https://www.twilio.com/docs/whatsapp/key-concepts#the-24-hour-window-or-24-hour-session)
 * and error 63016 (https://www.twilio.com/docs/api/errors/63016).
 */
export const SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Whether a free-form message due at `due` falls inside the window opened by an inbound message at `last`. */
export function insideWindow(last: Date | null | undefined, due: Date): boolean {
  return Boolean(last && last.getTime() + SERVICE_WINDOW_MS > due.getTime());
}

/**
 * Why a free-form WhatsApp message to `to`, due at `due`, cannot go: the customer never wrote, or the window its last
 * message opened ends before the message is due; and what to send instead.
 */
export function outsideWindowMessage(to: string, last: Date | null, due: Date): string {
  const fix =
    "WhatsApp delivers free-form text only within 24 hours of the customer's last message; send an approved template with content.whatsappTemplate { contentSid, contentVariables } (or a type whose WHATSAPP template names one)";
  if (!last) return `${to} has never written to this WhatsApp sender; ${fix}`;
  const ends = new Date(last.getTime() + SERVICE_WINDOW_MS).toISOString();
  return `${to} last wrote at ${last.toISOString()}, so its window ends at ${ends}, before the message is due (${due.toISOString()}); ${fix}`;
}

/**
 * OUTSIDE_SERVICE_WINDOW for a refused send, naming `field`, with the customer's last message and when its window
 * ended in `extensions` (null when the customer never wrote).
 */
export function outsideWindowError(
  field: string,
  to: string,
  last: Date | null,
  due: Date,
): OutsideServiceWindowError {
  return new OutsideServiceWindowError(`${field}: ${outsideWindowMessage(to, last, due)}`, {
    field,
    lastInboundAt: last,
    windowClosedAt: last ? new Date(last.getTime() + SERVICE_WINDOW_MS) : null,
  });
}

/**
 * The sender a window belongs to: a tenant's own WhatsApp config (its number, replies received through that config's
 * inbound path), or the service-wide sender (replies received through the service-wide path). `number` undefined:
 * no WhatsApp provider is configured, and any reply through that path counts.
 */
export interface WindowSender {
  channelConfigId: string | null;
  number?: string;
}

/** The service-wide sender of the registry's first WhatsApp provider (undefined number without one). */
export const sharedWindowSender = (number: string | undefined): WindowSender => ({
  channelConfigId: null,
  number,
});

/**
 * The sender a tenant's free-form WhatsApp message goes from: the first entry of its WhatsApp order (its first active
 * config, else the service-wide sender). That sender's window decides; a failover to another sender meets the
 * vendor's own check (63016) there.
 */
export function firstWindowSender(
  chain: { channelConfigId: string | null; provider: { sender?: string } }[],
  sharedNumber: string | undefined,
): WindowSender {
  const first = chain[0];
  return first
    ? { channelConfigId: first.channelConfigId, number: first.provider.sender }
    : sharedWindowSender(sharedNumber);
}

/**
 * The last inbound WhatsApp message of each customer number to one sender, read once per batch and remembered. The
 * window belongs to the customer ↔ sender pair (as WhatsApp sees it), not to a tenant: a reply to the service-wide
 * sender, stored for any tenant (or for none, SERVICE_WIDE), opens it for every tenant sending from that number; a
 * reply through a tenant's own config opens it only for sends through that config (its tenant's), never for the
 * service-wide sender or another tenant's.
 */
export class ServiceWindows {
  private readonly last = new Map<string, Date | null>();
  private sender?: Promise<WindowSender>;

  /**
   * @param resolveSender the sender the messages go from; asked once, when a number is first read (so a batch with
   *   no WhatsApp reads no routing)
   */
  constructor(private readonly resolveSender: () => Promise<WindowSender> | WindowSender) {}

  /** Reads the last reply of each number not read yet, in one query. Numbers are E.164. */
  async load(em: EntityManager, numbers: string[]): Promise<void> {
    const wanted = [...new Set(numbers.map((n) => normalizeAddress(Channel.WHATSAPP, n)))].filter(
      (n) => n !== '' && !this.last.has(n),
    );
    if (wanted.length === 0) return;
    this.sender ??= Promise.resolve(this.resolveSender());
    const { channelConfigId, number } = await this.sender;
    const to = number ? normalizeAddress(Channel.WHATSAPP, number) : undefined;
    // Served by inbound_message (channel, from, received_at): the newest row per number, however old, so a refusal
    // can say when the window closed. An inbound is stored once per user it belongs to; any of them counts.
    const rows = await runRaw<{ from: string; last: Date }>(
      em,
      `select "from", max(received_at) as last from inbound_message
        where channel = ? and "from" in (${wanted.map(() => '?').join(', ')})
          and ${channelConfigId ? 'channel_config_id = ?' : 'channel_config_id is null'} ${to ? 'and "to" = ?' : ''}
        group by "from"`,
      [Channel.WHATSAPP, ...wanted, ...(channelConfigId ? [channelConfigId] : []), ...(to ? [to] : [])],
    );
    wanted.forEach((n) => this.last.set(n, null));
    rows.forEach((row) => this.last.set(row.from, new Date(row.last)));
  }

  /** When `number` last wrote to the sender; null when it never did. */
  async lastInbound(em: EntityManager, number: string): Promise<Date | null> {
    const key = normalizeAddress(Channel.WHATSAPP, number);
    if (!this.last.has(key)) await this.load(em, [key]);
    return this.last.get(key) ?? null;
  }
}
