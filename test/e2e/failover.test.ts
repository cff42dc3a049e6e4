import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MessageDocument,
  NotificationDocument,
  ProvidersDocument,
  type MessageQuery,
  SendNotificationsDocument,
  UpsertNotificationTypeDocument,
  type SendNotificationInput,
} from '../support/generated/graphql';
import { Channel, MessageStatus } from '../../src/entities';
import { executeOk, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

// Long enough that wave 2 (stopping a worker, starting another, ten sends) ends before a trial request, even on a
// loaded CI machine; the recovery step then waits out the rest of the pause.
const HALF_OPEN_AFTER_MS = 20_000;

const sms = (count: number, tag: string): SendNotificationInput[] =>
  Array.from({ length: count }, (_, i) => ({
    userId: `u-${tag}-${i}-${randomUUID()}`,
    type: 'adhoc',
    channels: ['SMS' as const],
    to: { phone: '+14155552671' },
    content: { body: `${tag} ${i}` },
  }));

async function sendAll(stack: TestStack, inputs: SendNotificationInput[]): Promise<string[]> {
  const { sendNotifications } = await executeOk(stack.url, SendNotificationsDocument, { inputs });
  expect(sendNotifications.summary.accepted).toBe(inputs.length);
  const ids: string[] = [];
  for (const result of sendNotifications.results) {
    const { notification } = await executeOk(stack.url, NotificationDocument, {
      id: result.notification!.id,
    });
    ids.push(...(notification?.messages.map((m) => m.id) ?? []));
  }
  return ids;
}

type MessageView = NonNullable<MessageQuery['message']>;

async function settled(stack: TestStack, ids: string[], statuses: string[]) {
  const messages: MessageView[] = [];
  for (const id of ids) {
    let last: MessageView | null = null;
    await waitFor(
      async () => {
        last = (await executeOk(stack.url, MessageDocument, { id })).message;
        return statuses.includes(last?.status ?? '');
      },
      30_000,
      `message ${id} ${statuses.join('|')}`,
    );
    messages.push(last!);
  }
  return messages;
}

const providerInfo = async (stack: TestStack, id: string) =>
  (await executeOk(stack.url, ProvidersDocument, {})).providers.find((p) => p.id === id);

/**
 * Twilio answers 503: messages are retried, Twilio's circuit opens, and SMS go out through SNS. The breaker lives in
 * Redis: a worker process that never saw a Twilio failure sends nothing to Twilio either.
 */
describe('provider failover and circuit breakers across processes', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({
      role: 'api',
      extraEnv: {
        SMS_PROVIDERS: 'twilio,sns',
        DISPATCH_MAX_ATTEMPTS: '3',
        CIRCUIT_FAILURE_THRESHOLD: '3',
        CIRCUIT_HALF_OPEN_AFTER_MS: String(HALF_OPEN_AFTER_MS),
      },
    });
  });
  afterAll(() => stack?.close());

  it(
    '503 from Twilio → retries, circuit opens for every process, SMS via SNS, then Twilio recovers',
    { timeout: 150_000 },
    async () => {
      const emulator = stack.emulator.emulator;
      emulator.injectFault({ vendor: 'twilio', count: 10_000, status: 503 });

      // Wave 1, one worker process: Twilio fails until its circuit opens; every message ends SENT through SNS.
      const first = await stack.spawnRole('worker');
      const wave1 = await settled(stack, await sendAll(stack, sms(5, 'w1')), ['SENT']);
      expect(wave1.every((m) => m.provider === 'sns')).toBe(true);
      const twilioAfterWave1 = emulator.recorded('twilio').length;
      expect(twilioAfterWave1).toBeGreaterThanOrEqual(3);
      expect(emulator.recorded('sns')).toHaveLength(5);
      // The message's history shows the failed Twilio attempt, then the send through SNS (same message).
      const history = (await executeOk(stack.url, MessageDocument, { id: wave1[0].id })).message!.events;
      expect(history.some((e) => e.provider === 'twilio-sms' && e.errorCode === '20500')).toBe(true);
      expect(history.at(-1)).toMatchObject({ status: 'SENT', provider: 'sns' });

      const twilio = await providerInfo(stack, 'twilio-sms');
      expect(twilio).toMatchObject({ circuit: 'open', healthy: false, priority: 0 });
      expect(twilio?.errorRate).toBeGreaterThan(0);
      expect(await providerInfo(stack, 'sns')).toMatchObject({
        circuit: 'closed',
        healthy: true,
        priority: 1,
      });
      const ready = (await (await fetch(`${stack.config.server.publicUrl}/ready`)).json()) as {
        providers: Record<string, { circuit: string; healthy: boolean }>;
      };
      expect(ready.providers['twilio-sms']).toMatchObject({ circuit: 'open', healthy: false });

      // Wave 2, a fresh worker process that has seen no failure: the shared open circuit sends it straight to SNS.
      await first.stop();
      const second = await stack.spawnRole('worker');
      const wave2 = await settled(stack, await sendAll(stack, sms(10, 'w2')), ['SENT']);
      expect(wave2.every((m) => m.provider === 'sns')).toBe(true);
      expect(emulator.recorded('twilio')).toHaveLength(twilioAfterWave1);

      // Twilio recovers: after the pause one trial request goes through, succeeds, and the circuit closes.
      emulator.clearFaults();
      await waitFor(
        async () => (await providerInfo(stack, 'twilio-sms'))?.circuit === 'half-open',
        HALF_OPEN_AFTER_MS + 5_000,
        'twilio half-open',
      );
      const [trial] = await settled(stack, await sendAll(stack, sms(1, 'w3')), ['SENT']);
      expect(trial?.provider).toBe('twilio-sms');
      await waitFor(
        async () => (await providerInfo(stack, 'twilio-sms'))?.circuit === 'closed',
        5_000,
        'twilio closed',
      );
      await second.stop();
    },
  );
});

/** Every provider of a channel failed the message: the type's fallback channel reaches the user instead. */
describe('channel fallback after exhausted retries', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({
      extraEnv: { DISPATCH_MAX_ATTEMPTS: '2', CIRCUIT_FAILURE_THRESHOLD: '1000' },
    });
    await executeOk(stack.url, UpsertNotificationTypeDocument, {
      input: {
        key: 'shipping_update',
        defaultChannels: ['SMS'],
        fallbackChannels: ['EMAIL'],
        templates: [
          { channel: 'SMS', body: 'Your parcel: {{ data.status }}' },
          { channel: 'EMAIL', subject: 'Your parcel', text: 'Status: {{ data.status }}' },
        ],
      },
    });
  });
  afterAll(() => stack?.close());

  it(
    'SMS fails twice on Twilio → FAILED MAX_ATTEMPTS, and an EMAIL with fallbackUsed is sent',
    { timeout: 60_000 },
    async () => {
      stack.emulator.emulator.injectFault({ vendor: 'twilio', count: 10_000, status: 503 });
      const { sendNotifications } = await executeOk(stack.url, SendNotificationsDocument, {
        inputs: [
          {
            userId: `u-${randomUUID()}`,
            type: 'shipping_update',
            to: { phone: '+14155552671', email: 'ada@example.com' },
            data: { status: 'out for delivery' },
          },
        ],
      });
      const notificationId = sendNotifications.results[0].notification!.id;
      const { notification } = await executeOk(stack.url, NotificationDocument, { id: notificationId });
      const [smsMessage] = await settled(
        stack,
        notification!.messages.map((m) => m.id),
        ['FAILED'],
      );
      expect(smsMessage).toMatchObject({ channel: 'SMS', error: { code: 'MAX_ATTEMPTS' } });
      expect(stack.emulator.emulator.recorded('twilio')).toHaveLength(2);
      await waitFor(
        () => Promise.resolve(stack.emulator.emulator.recorded('sendgrid').length === 1),
        20_000,
        'fallback email sent',
      );
      const [email] = stack.emulator.emulator.recorded('sendgrid');
      expect(JSON.stringify(email?.body)).toContain('Status: out for delivery');
      const herald = stack.herald.services.queries;
      await waitFor(
        async () =>
          (await herald.messagesOf('default', notificationId)).some(
            (m) => m.channel === Channel.EMAIL && m.fallbackUsed && m.status === MessageStatus.SENT,
          ),
        10_000,
        'fallback EMAIL message SENT with fallbackUsed',
      );
    },
  );
});
