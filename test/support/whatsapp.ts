import { SANDBOX } from '../../src/config/sandbox';
import type { CustomerMessage } from '../../src/sandbox/twilio-whatsapp';

/** A WhatsApp template SID in Twilio's format (HX + 32 hex digits), as the emulator and Herald require. */
export const CONTENT_SID = 'HXb5b62575e6e4ff6129ad7c8efe1f983e';

/**
 * A customer's WhatsApp message reaching the emulated Twilio through its control API
 * (`POST /__emulator/twilio/inbound`): the emulator opens WhatsApp's 24-hour window for the number and, when it knows
 * Herald's inbound webhook (every test stack), forwards the message there signed as Twilio signs. Fails unless Herald
 * answered 200.
 * @param emulatorUrl the emulator's base URL (standalone) or `${herald}/sandbox` (built in)
 * @param number the customer's E.164 number
 * @param options.at when the customer wrote, for the emulator's window (Herald stores its own receipt time)
 */
export async function customerWrites(
  emulatorUrl: string,
  number: string,
  options: { body?: string; to?: string; at?: Date } = {},
): Promise<CustomerMessage> {
  const response = await fetch(`${emulatorUrl}/__emulator/twilio/inbound`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      From: `whatsapp:${number}`,
      To: options.to ?? SANDBOX.twilio.whatsappFrom,
      Body: options.body ?? 'Hi, any news on my order?',
      at: options.at?.toISOString(),
    }),
  });
  if (response.status !== 201)
    throw new Error(`emulator answered ${response.status}: ${await response.text()}`);
  const message = (await response.json()) as CustomerMessage;
  if (message.forwarded && message.forwarded.status !== 200)
    throw new Error(`Herald's inbound webhook answered ${message.forwarded.status}`);
  return message;
}
