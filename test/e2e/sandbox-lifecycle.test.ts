import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MessageDocument,
  MessageStatusChangedDocument,
  SendNotificationDocument,
  type MessageStatusChangedSubscription,
} from '../support/generated/graphql';
import { collect, executeOk, waitFor, waitForSubscribers, wsClient } from '../support/graphql';
import { EMULATED_TWILIO_PRICE_PER_SEGMENT } from '../../src/sandbox/emulator';
import { startStack, type TestStack } from '../support/stack';

/** The emulator reports back through Herald's signed webhooks, as the providers do. */
describe('sandbox delivery callbacks end to end', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ callbacksDelayMs: 50, extraEnv: { PROVIDER_PRICE_DELAY_MS: '0' } });
  });
  afterAll(() => stack?.close());

  const message = async (id: string) => (await executeOk(stack.url, MessageDocument, { id })).message!;

  it.each([
    { channel: 'SMS' as const, to: { phone: '+14155552671' } },
    { channel: 'EMAIL' as const, to: { email: 'newcomer@example.com' } },
  ])('$channel: a subscriber sees QUEUED, SENDING, SENT, DELIVERED in order', async ({ channel, to }) => {
    const userId = `u-${randomUUID()}`;
    await waitForSubscribers(stack.url, 0);
    const client = wsClient(stack.url);
    const seen = collect<MessageStatusChangedSubscription, { userId: string }>(
      client,
      MessageStatusChangedDocument,
      { userId },
      (events) => events.some((e) => e.messageStatusChanged.status === 'DELIVERED'),
    );
    await waitForSubscribers(stack.url, 1);
    await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId,
        type: 'adhoc',
        channels: [channel],
        to,
        content: { subject: 'Hi', text: 'Hello', body: 'Hello' },
      },
    });
    const events = await seen.done;
    await client.dispose();
    expect(events.map((e) => e.messageStatusChanged.status)).toEqual([
      'QUEUED',
      'SENDING',
      'SENT',
      'DELIVERED',
    ]);
    const delivered = await message(events[0].messageStatusChanged.message.id);
    expect(delivered.deliveredAt).toBeTruthy();
    // Every provider report is in the history, including the ones that change nothing (Twilio "sent", SendGrid "processed").
    // Sorted: the two callbacks are separate requests, and on a loaded machine the second can land first (the
    // history keeps arrival order, and a late "sent" moves nothing).
    expect(
      delivered.events
        .filter((e) => e.source !== 'herald')
        .map((e) => e.eventType)
        .sort(),
    ).toEqual(channel === 'SMS' ? ['delivered', 'sent'] : ['delivered', 'processed']);
  });

  it('after the final status, the price Twilio reports replaces the estimate', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: `u-${randomUUID()}`,
        type: 'adhoc',
        channels: ['SMS'],
        to: { phone: '+14155552671' },
        content: { body: 'x'.repeat(161) },
      },
    });
    const id = sendNotification.notification.messages[0].id;
    await waitFor(async () => (await message(id)).costSource === 'provider', 15_000, 'provider price');
    const priced = await message(id);
    expect(priced.status).toBe('DELIVERED');
    expect(priced.segments).toBe(2);
    // Not the estimate (two GSM-7 segments × the default 0.0079): what the emulated Twilio charged.
    expect(priced.cost).toBeCloseTo(2 * EMULATED_TWILIO_PRICE_PER_SEGMENT, 6);
    expect(priced.cost).not.toBeCloseTo(2 * 0.0079, 6);
    expect(stack.emulator.emulator.twilioLookups).toBeGreaterThanOrEqual(1);
  });

  it('a price look-up the provider answers 404 is asked once, not retried: the estimate stays', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: `u-${randomUUID()}`,
        type: 'adhoc',
        channels: ['SMS'],
        to: { phone: '+14155552671' },
        content: { body: 'forgotten' },
      },
    });
    const id = sendNotification.notification.messages[0].id;
    await waitFor(async () => (await message(id)).costSource === 'provider', 15_000, 'provider price');
    // As after a restart of the sandbox emulator: the provider no longer knows the message (Twilio answers 20404).
    const db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    try {
      await db.query(
        `update message set provider_message_id = 'SM00000000000000000000000000000404', cost = 0.0079,
           cost_source = 'estimate', price_checks = 0, price_check_due_at = now() where id = $1`,
        [id],
      );
      const row = async () =>
        (
          await db.query<{ price_checks: number; due: Date | null; cost: number; cost_source: string }>(
            'select price_checks, price_check_due_at due, cost::float8 cost, cost_source from message where id = $1',
            [id],
          )
        ).rows[0];
      const settled = await waitFor(
        async () => {
          const r = await row();
          return r.price_checks > 0 && r.due === null && r;
        },
        20_000,
        'price checks to stop',
      );
      expect(settled).toEqual({ price_checks: 1, due: null, cost: 0.0079, cost_source: 'estimate' });
    } finally {
      await db.end();
    }
  });

  it('opens and clicks on request update openedAt and clickedAt (OPENED, then CLICKED)', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: 'u-engaged',
        type: 'adhoc',
        channels: ['EMAIL'],
        to: { email: 'engaged@example.com' },
        content: { subject: 's', text: 't' },
      },
    });
    const id = sendNotification.notification.messages[0].id;
    await waitFor(async () => (await message(id)).status === 'DELIVERED');
    expect(await stack.emulator.emulator.engage({ heraldMessageId: id, event: 'open' })).toBe('reported');
    const opened = await waitFor(async () => {
      const m = await message(id);
      return m.status === 'OPENED' && m;
    });
    expect(opened.openedAt).toBeTruthy();
    const response = await fetch(`${stack.emulator.url}/__emulator/sendgrid/engagement`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ heraldMessageId: id, event: 'click', url: 'https://example.com/pay' }),
    });
    expect(response.status).toBe(202);
    const clicked = await waitFor(async () => {
      const m = await message(id);
      return m.status === 'CLICKED' && m;
    });
    expect(clicked.clickedAt).toBeTruthy();
    expect(clicked.openedAt).toBe(opened.openedAt);
  });

  it('the reserved addresses come back undelivered (+15005550009, 30003) and bounced (bounce@sandbox.herald.dev)', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: 'u-reserved',
        type: 'adhoc',
        channels: ['SMS', 'EMAIL'],
        to: { phone: '+15005550009', email: 'bounce@sandbox.herald.dev' },
        content: { subject: 's', text: 't', body: 'b' },
      },
    });
    const sms = sendNotification.notification.messages.find((m) => m.channel === 'SMS');
    const email = sendNotification.notification.messages.find((m) => m.channel === 'EMAIL');
    expect(
      await waitFor(async () => {
        const m = await message(sms!.id);
        return m.status === 'UNDELIVERED' && m;
      }),
    ).toMatchObject({ error: { code: '30003' } });
    expect(
      await waitFor(async () => {
        const m = await message(email!.id);
        return m.status === 'BOUNCED' && m;
      }),
    ).toMatchObject({ error: { code: '5.1.1' } });
    const callbacks = (await (await fetch(`${stack.emulator.url}/__emulator/callbacks`)).json()) as {
      status: number;
    }[];
    expect(callbacks.every((c) => c.status < 300)).toBe(true);
  });
});
