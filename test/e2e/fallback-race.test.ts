import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NotificationDocument,
  SendNotificationDocument,
  UpsertNotificationTypeDocument,
} from '../support/generated/graphql';
import { executeOk, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const ROUNDS = 10;
const FINAL = ['SENT', 'DELIVERED', 'FAILED', 'SUPPRESSED'];

/**
 * Channel fallback under concurrency: two messages of one notification fail at the same time in two worker
 * processes (`node dist/src/main.js worker`, so build first); the type's fallback channel must get one message, not
 * one per failure.
 */
describe('channel fallback is created once when siblings fail together (two worker processes)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ role: 'api', extraEnv: { RATE_LIMIT_ENABLED: 'false' } });
    await Promise.all([stack.spawnRole('worker'), stack.spawnRole('worker')]);
    await executeOk(stack.url, UpsertNotificationTypeDocument, {
      input: {
        key: 'device_alert',
        defaultChannels: ['PUSH'],
        fallbackChannels: ['EMAIL'],
        templates: [
          { channel: 'PUSH', title: 'Alert', body: 'Alert {{ data.n }}' },
          { channel: 'EMAIL', subject: 'Alert', text: 'Alert {{ data.n }}' },
        ],
      },
    });
  }, 120_000);
  afterAll(() => stack?.close());

  it('two devices refused by FCM (UNREGISTERED) at once: exactly one fallback EMAIL', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const userId = `u-${randomUUID()}`;
      const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
        input: {
          userId,
          type: 'device_alert',
          to: {
            deviceTokens: [`unregistered-a-${userId}`, `unregistered-b-${userId}`],
            email: `${userId}@example.com`,
          },
          data: { n: round },
        },
      });
      const id = sendNotification.notification.id;
      const messages = await waitFor(
        async () => {
          const { notification } = await executeOk(stack.url, NotificationDocument, { id });
          const all = notification?.messages ?? [];
          return all.some((m) => m.channel === 'EMAIL') && all.every((m) => FINAL.includes(m.status)) && all;
        },
        30_000,
        `notification ${id} to settle`,
      );
      expect(messages.map((m) => `${m.channel} ${m.status}`).sort(), `round ${round}`).toEqual([
        'EMAIL SENT',
        'PUSH FAILED',
        'PUSH FAILED',
      ]);
    }
  }, 180_000);
});
