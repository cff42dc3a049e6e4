import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { SegmentedMessage } from 'sms-segments-calculator';
import type { Config } from '../config/env';
import { Channel, type RenderedContent } from '../entities';

export interface CostEstimate {
  cost: number;
  /** SMS only: GSM-7 or UCS-2 segments, as the carrier bills them. */
  segments?: number;
  encoding?: string;
}

/** SMS segments with Twilio's own calculator: 160 GSM-7 / 70 UCS-2 characters in one, 153 / 67 per part beyond. */
export function smsSegments(body: string): { segments: number; encoding: string } {
  const message = new SegmentedMessage(body, 'auto');
  return { segments: message.segmentsCount, encoding: message.encodingName };
}

/** USD per segment for the destination's country, else the "*" price. */
export function smsPrice(prices: Config['prices'], to: string): number {
  const country = parsePhoneNumberFromString(to)?.country;
  return (country && prices.sms[country]) ?? prices.sms['*'] ?? 0;
}

const round = (usd: number) => Math.round(usd * 1e6) / 1e6;

/**
 * What a message costs (an estimate until a provider reports the price): SMS = segments × the country's price per
 * segment; WhatsApp, email and push a configured price per message.
 */
export function estimateCost(
  prices: Config['prices'],
  channel: Channel,
  to: string,
  content: RenderedContent,
): CostEstimate {
  switch (channel) {
    case Channel.SMS: {
      const { segments, encoding } = smsSegments(content.body ?? content.text ?? '');
      return { cost: round(segments * smsPrice(prices, to)), segments, encoding };
    }
    case Channel.WHATSAPP:
      return { cost: prices.whatsapp };
    case Channel.EMAIL:
      return { cost: prices.email };
    case Channel.PUSH:
      return { cost: prices.push };
  }
}
