import { describe, expect, it } from 'vitest';
import { parseSendgridEvent, parseSendgridEvents } from '../../src/providers/sendgrid.webhook';
import { parseTwilioInbound, parseTwilioStatus } from '../../src/providers/twilio.webhook';
import { movesForward } from '../../src/services/message-status';
import { MessageStatus } from '../../src/entities';

describe('Twilio inbound replies', () => {
  it("carry the reply rule's keyword and possible opt-out flag (rule: test/unit/reply-keywords.test.ts)", () => {
    const reply = (Body: string) =>
      parseTwilioInbound({ MessageSid: 'SM1', From: '+14155552671', To: '+15005550006', Body });
    expect(reply('Opt-out')).toMatchObject({ keyword: 'STOP', possibleOptOut: false });
    expect(reply("please don't stop")).toMatchObject({ keyword: null, possibleOptOut: true });
    expect(reply('Is my payment done?')).toMatchObject({ keyword: null, possibleOptOut: false });
  });

  it('WhatsApp replies are recognised by the whatsapp: prefix, with media', () => {
    expect(
      parseTwilioInbound({
        MessageSid: 'SM1',
        From: 'whatsapp:+14155552671',
        To: 'whatsapp:+14155238886',
        Body: 'hi',
        NumMedia: '2',
        MediaUrl0: 'https://a',
        MediaUrl1: 'https://b',
      }),
    ).toMatchObject({
      channel: 'WHATSAPP',
      from: '+14155552671',
      to: '+14155238886',
      media: ['https://a', 'https://b'],
      keyword: null,
    });
  });
});

describe('Twilio status mapping', () => {
  const at = new Date('2030-01-01T00:00:00Z');
  it.each([
    ['queued', 'SENT'],
    ['sending', 'SENT'],
    ['sent', 'SENT'],
    ['delivered', 'DELIVERED'],
    ['undelivered', 'UNDELIVERED'],
    ['failed', 'FAILED'],
    ['read', 'READ'],
    ['canceled', 'FAILED'],
  ])('%s → %s, keyed by MessageSid + MessageStatus', (twilioStatus, status) => {
    const event = parseTwilioStatus(
      { MessageSid: 'SMabc', MessageStatus: twilioStatus },
      'https://h.example.com/webhooks/twilio/status?hm=m-1',
      at,
    );
    expect(event).toMatchObject({
      status,
      eventKey: `SMabc:${twilioStatus}`,
      heraldMessageId: 'm-1',
      providerMessageId: 'SMabc',
    });
  });

  it('21610 records an opt-out', () => {
    expect(
      parseTwilioStatus({ MessageSid: 'SM1', MessageStatus: 'failed', ErrorCode: '21610' }, 'https://h/x', at)
        .optOut,
    ).toBe('21610');
  });
});

describe('SendGrid event mapping', () => {
  const base = {
    email: 'A@Example.com',
    timestamp: 1_900_000_000,
    sg_message_id: 'abc123.filter0001.1',
    herald_message_id: 'm-1',
  };
  it.each([
    ['processed', 'SENT', undefined, undefined],
    ['deferred', null, undefined, undefined],
    ['delivered', 'DELIVERED', undefined, undefined],
    ['bounce', 'BOUNCED', 'bounce', undefined],
    ['open', 'OPENED', undefined, undefined],
    ['click', 'CLICKED', undefined, undefined],
    ['spamreport', null, 'spamreport', undefined],
    ['unsubscribe', null, undefined, 'unsubscribe'],
    ['group_unsubscribe', null, undefined, 'group_unsubscribe'],
  ])('%s → status %s, suppress %s, opt-out %s', (type, status, suppress, optOut) => {
    const event = parseSendgridEvent({ ...base, event: type, sg_event_id: `e-${type}` });
    expect(event).toMatchObject({
      status,
      suppress,
      optOut,
      eventKey: `e-${type}`,
      heraldMessageId: 'm-1',
      providerMessageId: 'abc123',
    });
    // The body's `email` is not carried: blocks use the address of the message the event names.
    expect(event).not.toHaveProperty('address');
  });

  it('dropped suppresses only when the reason is about the address; without sg_event_id the key falls back', () => {
    expect(parseSendgridEvent({ ...base, event: 'dropped', reason: 'Bounced Address' }).suppress).toBe(
      'dropped',
    );
    expect(parseSendgridEvent({ ...base, event: 'dropped', reason: 'Invalid' }).suppress).toBe('dropped');
    expect(
      parseSendgridEvent({ ...base, event: 'dropped', reason: 'Invalid SMTPAPI header' }).suppress,
    ).toBeUndefined();
    expect(
      parseSendgridEvent({ ...base, event: 'dropped', reason: 'Spam Content' }).suppress,
    ).toBeUndefined();
    expect(parseSendgridEvent({ ...base, event: 'open' }).eventKey).toBe(
      'abc123.filter0001.1:open:1900000000',
    );
  });
});

describe('webhook ids: at most 256 bytes (MAX_EVENT_ID_BYTES), everywhere the same', () => {
  const at = new Date('2030-01-01T00:00:00Z');
  const id = (bytes: number) => `SM${'a'.repeat(bytes - 2)}`;

  it('a Twilio MessageSid of 256 bytes is keyed; 257 bytes is refused naming 256', () => {
    expect(
      parseTwilioStatus({ MessageSid: id(256), MessageStatus: 'sent' }, 'https://h/x', at).eventKey,
    ).toBe(`${id(256)}:sent`);
    expect(() =>
      parseTwilioStatus({ MessageSid: id(257), MessageStatus: 'sent' }, 'https://h/x', at),
    ).toThrow('MessageSid is longer than 256 bytes');
  });

  it.each(['sg_event_id', 'sg_message_id', 'herald_message_id'])(
    'a SendGrid %s of 256 bytes is stored; 257 bytes is skipped next to a good event, counted "unstorable"',
    (field) => {
      const event = (bytes: number) => ({
        event: 'open',
        timestamp: 1_900_000_000,
        sg_event_id: 'e-1',
        [field]: id(bytes),
      });
      expect(parseSendgridEvent(event(256))).toMatchObject({ eventType: 'open' });
      const batch = parseSendgridEvents(
        Buffer.from(JSON.stringify([{ ...event(34), sg_event_id: 'good' }, event(257)])),
      );
      expect(batch.events.map((e) => e.eventKey)).toEqual(['good']);
      expect(batch.skipped).toEqual([{ kind: 'unstorable', detail: `[1].${field}: longer than 256 bytes` }]);
      expect(() => parseSendgridEvents(Buffer.from(JSON.stringify([event(257)])))).toThrow(
        `[0].${field}: longer than 256 bytes`,
      );
    },
  );

  it('the part of sg_message_id before the first dot is the id: a long filter suffix is fine', () => {
    const event = parseSendgridEvent({
      event: 'open',
      sg_event_id: 'e-2',
      sg_message_id: `abc.${'f'.repeat(300)}`,
    });
    expect(event.providerMessageId).toBe('abc');
  });
});

describe('one-way status after SENT', () => {
  it('moves only forward by rank; equal ranks and Herald-only statuses never move', () => {
    expect(movesForward(MessageStatus.SENT, MessageStatus.DELIVERED)).toBe(true);
    expect(movesForward(MessageStatus.DELIVERED, MessageStatus.SENT)).toBe(false);
    expect(movesForward(MessageStatus.DELIVERED, MessageStatus.BOUNCED)).toBe(false);
    expect(movesForward(MessageStatus.OPENED, MessageStatus.READ)).toBe(false);
    expect(movesForward(MessageStatus.OPENED, MessageStatus.CLICKED)).toBe(true);
    expect(movesForward(MessageStatus.SUPPRESSED, MessageStatus.DELIVERED)).toBe(false);
  });
});
