import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { SegmentedMessage } from 'sms-segments-calculator';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config/env';
import { Channel, type RenderedContent } from '../entities';
import { INPUT_LIMITS } from './input-limits';

export interface CostEstimate {
  cost: number;
  /** SMS only: GSM-7 or UCS-2 segments, as the carrier bills them. */
  segments?: number;
  encoding?: string;
}

// Segmenting walks every grapheme and phone parsing runs libphonenumber's metadata: both were a large share of an
// accept's CPU, and the same bodies (templates) and numbers come back again and again.
const segmentsByBody = new LRUCache<string, { segments: number; encoding: string }>({ max: 2_000 });
const countryByNumber = new LRUCache<string, { country?: string }>({ max: 20_000 });

/**
 * Characters of the GSM-7 basic set that are also plain ASCII: one septet each, no escape, no grapheme subtleties.
 * (The extension characters [ \ ] ^ { | } ~ take two septets and ` is not GSM at all: those go to the calculator.)
 */
const PLAIN_GSM7 = /^[A-Za-z0-9 !"#$%&'()*+,\-./:;<=>?@_\n\r]*$/;

/** SMS segments with Twilio's own calculator: 160 GSM-7 / 70 UCS-2 characters in one, 153 / 67 per part beyond. */
export function smsSegments(body: string): { segments: number; encoding: string } {
  // Most bodies are plain ASCII: counted directly, as the calculator would (a unit test holds the two together);
  // its grapheme walk was a tenth of a batch accept's CPU when every body differs.
  if (PLAIN_GSM7.test(body)) {
    return { segments: body.length <= 160 ? 1 : Math.ceil(body.length / 153), encoding: 'GSM-7' };
  }
  // The calculator rebuilds its array per character (quadratic: 20,000 'é' took 20 s). Twilio refuses bodies over
  // 1,600 characters (error 21617) before counting, so a longer one is estimated at the UCS-2 worst case instead.
  if (body.length > INPUT_LIMITS.smsBody.max)
    return { segments: Math.ceil(body.length / 67), encoding: 'UCS-2' };
  let counted = segmentsByBody.get(body);
  if (!counted) {
    const message = new SegmentedMessage(body, 'auto');
    counted = { segments: message.segmentsCount, encoding: message.encodingName };
    segmentsByBody.set(body, counted);
  }
  return { ...counted };
}

/** USD per segment for the destination's country, else the "*" price. */
export function smsPrice(prices: Config['prices'], to: string): number {
  let parsed = countryByNumber.get(to);
  if (!parsed) {
    parsed = { country: parsePhoneNumberFromString(to)?.country };
    countryByNumber.set(to, parsed);
  }
  const { country } = parsed;
  return (country ? prices.sms[country] : undefined) ?? prices.sms['*'] ?? 0;
}

/**
 * USD amounts are kept to the micro-dollar (6 decimals): finer than any price (Twilio reports 5 decimals), and
 * binary floating point adds noise a sum would show: a four-channel send's 0.0079 (SMS) + 0.005 (WhatsApp) + 0.0001
 * (email) + 0 (push) is 0.013000000000000001.
 */
export const roundUsd = (usd: number): number => Math.round(usd * 1e6) / 1e6;

/** The sum of USD amounts, rounded to the micro-dollar (roundUsd). */
export function sumUsd(amounts: Iterable<number>): number {
  let sum = 0;
  for (const amount of amounts) sum += amount;
  return roundUsd(sum);
}

const round = roundUsd;

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
