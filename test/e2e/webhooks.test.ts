import { generateKeyPairSync } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  MessageDocument,
  MessageStatusChangedDocument,
  SendNotificationDocument,
  UpdateContactDocument,
  type MessageStatusChangedSubscription,
  type SendNotificationInput,
} from '../support/generated/graphql';
import { collect, executeOk, waitFor, waitForSubscribers, wsClient } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';
import { WebhookSender } from '../support/webhooks';

describe('provider webhooks: signatures, durable intake, one-way status, replies', () => {
  const sender = new WebhookSender();
  let stack: TestStack;
  let db: pg.Client;

  beforeAll(async () => {
    stack = await startStack({
      extraEnv: { SENDGRID_WEBHOOK_PUBLIC_KEY: sender.sendgridPublicKey, WEBHOOK_BODY_LIMIT_BYTES: '4096' },
    });
    sender.baseUrl = stack.config.server.publicUrl;
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
  });
  beforeEach(() => stack.emulator.emulator.reset());
  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  const storedEvents = async () =>
    (await db.query<{ n: number }>('select count(*)::int n from provider_event')).rows[0].n;
  const send = async (input: SendNotificationInput) =>
    (await executeOk(stack.url, SendNotificationDocument, { input })).sendNotification.notification
      .messages[0];
  const message = async (id: string) => (await executeOk(stack.url, MessageDocument, { id })).message!;
  const until = (id: string, statuses: string[]) =>
    waitFor(async () => {
      const m = await message(id);
      return statuses.includes(m.status) && m;
    });
  const sentSms = async (to = '+14155552671') => {
    const m = await send({
      userId: 'u-sms',
      type: 'adhoc',
      channels: ['SMS'],
      to: { phone: to },
      content: { body: 'hello' },
    });
    return until(m.id, ['SENT']);
  };
  const sentEmail = async (to = 'reader@example.com') => {
    const m = await send({
      userId: 'u-mail',
      type: 'adhoc',
      channels: ['EMAIL'],
      to: { email: to },
      content: { subject: 's', text: 't' },
    });
    return until(m.id, ['SENT']);
  };
  const twilioStatus = (
    m: { id: string; providerMessageId?: string | null; to: string },
    status: string,
    extra: Record<string, string> = {},
  ) => ({
    path: `/webhooks/twilio/status?hm=${m.id}`,
    params: {
      MessageSid: m.providerMessageId!,
      MessageStatus: status,
      To: m.to,
      AccountSid: 'AC00000000000000000000000000000000',
      ...extra,
    },
  });

  /** A SendGrid event for a sent email, as SendGrid posts it (its message id plus our herald_message_id arg). */
  const sendgridEvent = (
    m: { id: string; providerMessageId?: string | null; to: string },
    event: string,
    eventId: string,
    extra: Record<string, unknown> = {},
  ) => ({
    email: m.to,
    event,
    timestamp: Math.floor(Date.now() / 1000),
    sg_event_id: eventId,
    sg_message_id: `${m.providerMessageId}.filter0001`,
    herald_message_id: m.id,
    ...extra,
  });

  describe('Twilio signature (X-Twilio-Signature over PUBLIC_URL + path)', () => {
    it('only the validly signed callback is stored and applied', async () => {
      const m = await sentSms();
      const { path, params } = twilioStatus(m, 'delivered');
      const before = await storedEvents();
      const refused = [
        await sender.twilio(path, params, { signature: null }),
        await sender.twilio(path, params, { token: 'forged-token' }),
        await sender.twilio(path, params, { tamper: (body) => body.replace('delivered', 'read') }),
        await sender.twilio(path, params, { signUrl: `https://elsewhere.example.com${path}` }),
      ];
      expect(refused.map((r) => r.status)).toEqual([403, 403, 403, 403]);
      expect(await storedEvents()).toBe(before);
      expect((await message(m.id)).status).toBe('SENT');

      expect((await sender.twilio(path, params)).status).toBe(204);
      expect(await storedEvents()).toBe(before + 1);
      expect((await message(m.id)).status).toBe('DELIVERED');
    });
  });

  describe('SendGrid signature (ECDSA P-256 over timestamp + raw body)', () => {
    it('only the validly signed batch is stored and applied', async () => {
      const m = await sentEmail();
      const events = [sendgridEvent(m, 'delivered', `evt-${m.id}`)];
      const before = await storedEvents();
      const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
      const refused = [
        await sender.sendgrid(events, { signature: null }),
        await sender.sendgrid(events, { key: otherKey }),
        await sender.sendgrid(events, { tamper: (body) => body.replace('delivered', 'click') }),
      ];
      expect(refused.map((r) => r.status)).toEqual([403, 403, 403]);
      expect(await storedEvents()).toBe(before);

      expect((await sender.sendgrid(events)).status).toBe(200);
      expect(await storedEvents()).toBe(before + 1);
      expect((await message(m.id)).status).toBe('DELIVERED');
    });

    it('a malformed body is 400 and a body over the limit is 413; nothing stored', async () => {
      const before = await storedEvents();
      expect((await sender.sendgrid('{not json')).status).toBe(400);
      // Not a batch, and a batch with no event in it (an unknown event type is stored: webhooks-vendor-drift).
      expect((await sender.sendgrid('{"event":"delivered"}')).status).toBe(400);
      expect((await sender.sendgrid('[1, null, "x"]')).status).toBe(400);
      expect((await sender.sendgrid([{ event: 'delivered', padding: 'x'.repeat(5000) }])).status).toBe(413);
      expect(await storedEvents()).toBe(before);
    });
  });

  it('a SendGrid batch is stored in one insert and applied in one transaction; a repeated event in it is one', async () => {
    const sent = [
      await sentEmail('a@example.com'),
      await sentEmail('b@example.com'),
      await sentEmail('c@example.com'),
    ];
    const delivered = (m: (typeof sent)[number]) => sendgridEvent(m, 'delivered', `batch-${m.id}`);
    const before = await storedEvents();
    const answer = await sender.sendgrid([...sent.map(delivered), delivered(sent[0])]);
    expect(answer.status).toBe(200);
    expect(await storedEvents()).toBe(before + 3);
    for (const m of sent) expect((await message(m.id)).status).toBe('DELIVERED');
    // Delivery events are never updated: their xmin is the transaction that applied them.
    const { rows } = await db.query<{ transactions: number; events: number }>(
      `select count(distinct xmin::text)::int transactions, count(*)::int events
         from delivery_event where message_id = any($1) and status = 'DELIVERED'`,
      [sent.map((m) => m.id)],
    );
    expect(rows[0]).toEqual({ transactions: 1, events: 3 });
  });

  it('the same webhook posted 3 times concurrently: one transition, one delivery event, one subscription event', async () => {
    const m = await sentSms();
    await waitForSubscribers(stack.url, 0);
    const client = wsClient(stack.url);
    const seen = collect<MessageStatusChangedSubscription, { userId: string }>(
      client,
      MessageStatusChangedDocument,
      { userId: 'u-sms' },
      () => false,
      60_000,
    );
    await waitForSubscribers(stack.url, 1);
    const { path, params } = twilioStatus(m, 'delivered');
    const answers = await Promise.all([1, 2, 3].map(() => sender.twilio(path, params)));
    expect(answers.map((a) => a.status)).toEqual([204, 204, 204]);
    await until(m.id, ['DELIVERED']);
    await new Promise((r) => setTimeout(r, 300));
    await client.dispose();
    const events = (await message(m.id)).events;
    expect(events.filter((e) => e.status === 'DELIVERED')).toHaveLength(1);
    expect(
      seen.seen.filter(
        (e) => e.messageStatusChanged.message.id === m.id && e.messageStatusChanged.status === 'DELIVERED',
      ),
    ).toHaveLength(1);
    const stored = await db.query('select count(*)::int n from provider_event where event_key = $1', [
      `${m.providerMessageId}:delivered`,
    ]);
    expect(stored.rows[0]).toEqual({ n: 1 });
  });

  it('delivered before sent ends DELIVERED; the late sent is kept in history and the subscriber never sees a backwards move', async () => {
    const m = await sentSms();
    await waitForSubscribers(stack.url, 0);
    const client = wsClient(stack.url);
    const seen = collect<MessageStatusChangedSubscription, { notificationId: string }>(
      client,
      MessageStatusChangedDocument,
      { notificationId: m.notificationId },
      () => false,
      60_000,
    );
    await waitForSubscribers(stack.url, 1);
    const delivered = twilioStatus(m, 'delivered');
    const lateSent = twilioStatus(m, 'sent');
    expect((await sender.twilio(delivered.path, delivered.params)).status).toBe(204);
    expect((await sender.twilio(lateSent.path, lateSent.params)).status).toBe(204);
    await new Promise((r) => setTimeout(r, 300));
    await client.dispose();
    const final = await message(m.id);
    expect(final.status).toBe('DELIVERED');
    expect(final.events.map((e) => e.status)).toEqual(['QUEUED', 'SENDING', 'SENT', 'DELIVERED', 'SENT']);
    expect(final.events.at(-1)).toMatchObject({ source: 'twilio', previousStatus: null });
    expect(seen.seen.map((e) => e.messageStatusChanged.status)).toEqual(['SENT', 'DELIVERED']);
  });

  it('events are listed in the order Herald recorded them; occurredAt stays the vendor time in whole seconds', async () => {
    const m = await sentEmail();
    // SendGrid stamps events in whole seconds: this batch's delivered and open carry a time before Herald's own SENT.
    const vendorSecond = Math.floor(new Date(m.sentAt as string).getTime() / 1000);
    const batch = [
      sendgridEvent(m, 'delivered', `order-d-${m.id}`, { timestamp: vendorSecond }),
      sendgridEvent(m, 'open', `order-o-${m.id}`, { timestamp: vendorSecond }),
    ];
    expect((await sender.sendgrid(batch)).status).toBe(200);
    const final = await until(m.id, ['OPENED']);
    expect(final.events.map((e) => e.status)).toEqual(['QUEUED', 'SENDING', 'SENT', 'DELIVERED', 'OPENED']);
    const recorded = final.events.map((e) => new Date(e.recordedAt).getTime());
    expect(recorded).toEqual([...recorded].sort((a, b) => a - b));
    for (const event of final.events.slice(-2))
      expect(event.occurredAt).toBe(new Date(vendorSecond * 1000).toISOString());
  });

  it('an event that arrives before Herald recorded SENT waits and is applied once the message is SENT', async () => {
    stack.emulator.emulator.injectFault({ vendor: 'twilio', count: 1, delayMs: 800 });
    const queued = await send({
      userId: 'u-early',
      type: 'adhoc',
      channels: ['SMS'],
      to: { phone: '+14155552671' },
      content: { body: 'x' },
    });
    await until(queued.id, ['SENDING']);
    const early = twilioStatus(
      { id: queued.id, providerMessageId: 'SMearly0000000000000000000000000001', to: '+14155552671' },
      'delivered',
    );
    expect((await sender.twilio(early.path, early.params)).status).toBe(204);
    const final = await until(queued.id, ['DELIVERED']);
    expect(final.events.map((e) => e.status)).toEqual(['QUEUED', 'SENDING', 'SENT', 'DELIVERED']);
  });

  it('undelivered carries the vendor ErrorCode', async () => {
    const m = await sentSms();
    const { path, params } = twilioStatus(m, 'undelivered', {
      ErrorCode: '30003',
      ErrorMessage: 'Unreachable destination handset',
    });
    await sender.twilio(path, params);
    expect(await until(m.id, ['UNDELIVERED'])).toMatchObject({
      error: { code: '30003', message: 'Unreachable destination handset' },
    });
  });

  describe('inbound replies', () => {
    const inbound = (from: string, body: string, sid: string, extra: Record<string, string> = {}) =>
      sender.twilio('/webhooks/twilio/inbound', {
        MessageSid: sid,
        From: from,
        To: '+15005550006',
        Body: body,
        NumMedia: '0',
        ...extra,
      });

    it('STOP opts the number out: the next SMS ends SUPPRESSED with no request at the emulator; START re-enables it', async () => {
      const phone = '+14155550111';
      const reply = await inbound(phone, '  stop ', 'SMstop0000000000000000000000000001');
      expect(reply.status).toBe(200);
      expect(await reply.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
      const blocked = await send({
        userId: 'u-stop',
        type: 'adhoc',
        channels: ['SMS'],
        to: { phone },
        content: { body: 'promo' },
      });
      expect(blocked).toMatchObject({ status: 'SUPPRESSED', error: { code: 'opted_out' } });
      await new Promise((r) => setTimeout(r, 200));
      expect(stack.emulator.emulator.recorded('twilio')).toHaveLength(0);

      await inbound(phone, 'START', 'SMstart000000000000000000000000001');
      const allowed = await send({
        userId: 'u-stop',
        type: 'adhoc',
        channels: ['SMS'],
        to: { phone },
        content: { body: 'welcome back' },
      });
      await until(allowed.id, ['SENT']);
      expect(stack.emulator.emulator.recorded('twilio')).toHaveLength(1);
    });

    it('a STOP arriving while a message waits suppresses it at send time', async () => {
      const phone = '+14155550122';
      const waiting = await send({
        userId: 'u-wait',
        type: 'adhoc',
        channels: ['SMS'],
        to: { phone },
        content: { body: 'later' },
        scheduledAt: new Date(Date.now() + 1_000).toISOString(),
      });
      await inbound(phone, 'UNSUBSCRIBE', 'SMstop0000000000000000000000000002');
      expect(await until(waiting.id, ['SUPPRESSED', 'SENT'])).toMatchObject({
        status: 'SUPPRESSED',
        error: { code: 'opted_out' },
      });
    });

    it('HELP answers with the help text in TwiML', async () => {
      const reply = await inbound('+14155550133', 'help', 'SMhelp0000000000000000000000000001');
      expect(await reply.text()).toContain(
        '<Message>Herald notifications. Reply STOP to unsubscribe, START to subscribe again.</Message>',
      );
    });

    it('other replies are stored (direction IN, media) and linked to the user by phone', async () => {
      await executeOk(stack.url, UpdateContactDocument, {
        userId: 'u-inbox',
        input: { phone: '+14155550144' },
      });
      await inbound('+14155550144', 'Is my payment done?', 'SMinbox000000000000000000000000001', {
        NumMedia: '1',
        MediaUrl0: 'https://media.example.com/1.jpg',
      });
      const { rows } = await db.query(
        'select tenant_id, user_id, direction, channel, body, media, keyword from inbound_message where provider_message_id = $1',
        ['SMinbox000000000000000000000000001'],
      );
      expect(rows).toEqual([
        {
          tenant_id: 'default',
          user_id: 'u-inbox',
          direction: 'IN',
          channel: 'SMS',
          body: 'Is my payment done?',
          media: ['https://media.example.com/1.jpg'],
          keyword: null,
        },
      ]);
    });

    it('a WhatsApp STOP opts out of WhatsApp only', async () => {
      const phone = '+14155550155';
      await inbound(`whatsapp:${phone}`, 'STOP', 'SMwa00000000000000000000000000001', {
        To: 'whatsapp:+14155238886',
      });
      const wa = await send({
        userId: 'u-wa',
        type: 'adhoc',
        channels: ['WHATSAPP'],
        to: { whatsapp: phone },
        content: { body: 'x' },
      });
      expect(wa).toMatchObject({ status: 'SUPPRESSED', error: { code: 'opted_out' } });
      const sms = await send({
        userId: 'u-wa',
        type: 'adhoc',
        channels: ['SMS'],
        to: { phone },
        content: { body: 'x' },
      });
      expect(sms.status).toBe('QUEUED');
      await until(sms.id, ['SENT']);
    });
  });

  it('a Twilio 21610 on send records the opt-out', async () => {
    const phone = '+14155550166';
    stack.emulator.emulator.injectFault({ vendor: 'twilio', count: 1, status: 400, code: 21610 });
    const first = await send({
      userId: 'u-21610',
      type: 'adhoc',
      channels: ['SMS'],
      to: { phone },
      content: { body: 'x' },
    });
    expect(await until(first.id, ['FAILED'])).toMatchObject({ error: { code: '21610' } });
    const second = await send({
      userId: 'u-21610',
      type: 'adhoc',
      channels: ['SMS'],
      to: { phone },
      content: { body: 'y' },
    });
    expect(second).toMatchObject({ status: 'SUPPRESSED', error: { code: 'opted_out' } });
  });

  it('SendGrid bounce suppresses the address: the next email ends SUPPRESSED; unsubscribe records an opt-out', async () => {
    const m = await sentEmail('Gone@Example.com');
    const event = (type: string, extra: Record<string, unknown> = {}) =>
      sendgridEvent(m, type, `${type}-${m.id}`, { email: 'gone@example.com', ...extra });
    await sender.sendgrid([event('bounce', { type: 'bounce', status: '5.1.1', reason: 'no such user' })]);
    expect(await until(m.id, ['BOUNCED'])).toMatchObject({
      error: { code: '5.1.1', message: 'no such user' },
    });
    const next = await send({
      userId: 'u-mail',
      type: 'adhoc',
      channels: ['EMAIL'],
      to: { email: 'gone@example.com' },
      content: { subject: 's', text: 't' },
    });
    expect(next).toMatchObject({ status: 'SUPPRESSED', error: { code: 'suppressed_address' } });

    const other = await sentEmail('leaver@example.com');
    await sender.sendgrid([
      {
        ...event('unsubscribe'),
        email: 'leaver@example.com',
        sg_event_id: `unsub-${other.id}`,
        herald_message_id: other.id,
      },
    ]);
    await waitFor(
      async () =>
        (await message(other.id)).events.some((e) => e.status === 'SENT' && e.source === 'sendgrid') ||
        (await db.query("select 1 from address_block where address = 'leaver@example.com'")).rowCount,
    );
    const after = await send({
      userId: 'u-mail',
      type: 'adhoc',
      channels: ['EMAIL'],
      to: { email: 'leaver@example.com' },
      content: { subject: 's', text: 't' },
    });
    expect(after).toMatchObject({ status: 'SUPPRESSED', error: { code: 'opted_out' } });
  });
});
