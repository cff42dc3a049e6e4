import { SegmentedMessage } from 'sms-segments-calculator';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/env';
import { Channel } from '../../src/entities';
import { estimateCost, roundUsd, smsSegments, sumUsd } from '../../src/services/cost';

describe('SMS segments (Twilio sms-segments-calculator)', () => {
  it.each([
    ['a'.repeat(160), 1, 'GSM-7'],
    ['a'.repeat(161), 2, 'GSM-7'],
    ['a'.repeat(306), 2, 'GSM-7'],
    ['a'.repeat(307), 3, 'GSM-7'],
    ['ж'.repeat(70), 1, 'UCS-2'],
    ['ж'.repeat(71), 2, 'UCS-2'],
    ['Olá, pagamento de R$ 10 às 14h 😀', 1, 'UCS-2'],
  ])('%#: %s chars → %i segment(s) in %s', (body, segments, encoding) => {
    expect(smsSegments(body)).toEqual({ segments, encoding });
  });
});

describe('SMS segments: the plain-ASCII fast path agrees with the calculator', () => {
  const alphabet = 'abcXYZ019 !"#$%&\'()*+,-./:;<=>?@_\n\r';
  it('for 2,000 random plain bodies of 0 to 700 characters', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2_000; i++) {
      const length = Math.floor(random() * 700);
      const body = Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      const message = new SegmentedMessage(body, 'auto');
      expect(smsSegments(body)).toEqual({ segments: message.segmentsCount, encoding: message.encodingName });
    }
  });
  it.each(['{braces}', 'a^b', 'back`tick', '€uro', 'x'.repeat(159) + '~'])(
    '%s goes to the calculator',
    (body) => {
      const message = new SegmentedMessage(body, 'auto');
      expect(smsSegments(body)).toEqual({ segments: message.segmentsCount, encoding: message.encodingName });
    },
  );
});

describe('cost estimate', () => {
  const { prices } = parseConfig({
    SMS_PRICES: '{"US":0.0079,"BR":0.0467,"*":0.05}',
    WHATSAPP_PRICE: '0.005',
    EMAIL_PRICE: '0.0001',
    PUSH_PRICE: '0',
  });
  it('SMS: segments × the destination country price, else "*"', () => {
    expect(estimateCost(prices, Channel.SMS, '+14155552671', { body: 'a'.repeat(161) })).toEqual({
      cost: 0.0158,
      segments: 2,
      encoding: 'GSM-7',
    });
    expect(estimateCost(prices, Channel.SMS, '+5511987654321', { body: 'oi' })).toMatchObject({
      cost: 0.0467,
      segments: 1,
    });
    expect(estimateCost(prices, Channel.SMS, '+447911123456', { body: 'hi' })).toMatchObject({ cost: 0.05 });
  });
  it('WhatsApp, email and push: a price per message', () => {
    expect(estimateCost(prices, Channel.WHATSAPP, '+14155552671', { body: 'x'.repeat(500) })).toEqual({
      cost: 0.005,
    });
    expect(estimateCost(prices, Channel.EMAIL, 'a@example.com', {})).toEqual({ cost: 0.0001 });
    expect(estimateCost(prices, Channel.PUSH, 'tok', {})).toEqual({ cost: 0 });
  });
  it('rejects a malformed price table at startup', () => {
    expect(() => parseConfig({ SMS_PRICES: '{"usa": 1}' })).toThrow(/SMS_PRICES/);
    expect(() => parseConfig({ SMS_PRICES: 'not json' })).toThrow(/SMS_PRICES/);
  });
});

describe('sums of money are kept to the micro-dollar (6 decimals)', () => {
  it.each([
    [[0.0079, 0.005, 0.0001, 0], 0.013],
    [[0.1, 0.2], 0.3],
    [[0.0083, 0.0083, 0.0083], 0.0249],
    [[], 0],
  ])('%j sums to %d', (amounts, sum) => {
    expect(sumUsd(amounts)).toBe(sum);
  });
  it('rounds half away from zero at the seventh decimal', () => {
    expect(roundUsd(0.0000015)).toBe(0.000002);
    expect(roundUsd(0.00000149)).toBe(0.000001);
  });
});
