import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GrantConsentDocument,
  MessageDocument,
  SendNotificationDocument,
  UpdateContactDocument,
  UpdatePreferencesDocument,
  UpsertNotificationTypeDocument,
} from '../support/generated/graphql';
import { executeOk, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

/** Rounds of two sends fired together; on the old code both went out in about half of them. */
const ROUNDS = 12;
const SETTLED = ['SENT', 'DELIVERED', 'SCHEDULED', 'SUPPRESSED', 'FAILED'];

/**
 * Frequency caps under concurrency: the API in this process, two worker processes (`node dist/src/main.js worker`,
 * so build first) claiming from the same queues, each pair of sends racing across groups and processes.
 */
describe('frequency caps hold under concurrent claims (two worker processes)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ role: 'api', extraEnv: { RATE_LIMIT_ENABLED: 'false' } });
    await Promise.all([stack.spawnRole('worker'), stack.spawnRole('worker')]);
    await executeOk(stack.url, UpsertNotificationTypeDocument, {
      input: {
        key: 'weekly_offer',
        category: 'MARKETING',
        defaultChannels: ['EMAIL'],
        templates: [{ channel: 'EMAIL', subject: 'Offer {{ data.n }}', text: 'Offer {{ data.n }}' }],
      },
    });
    await executeOk(stack.url, UpsertNotificationTypeDocument, {
      input: {
        key: 'balance_nudge',
        category: 'TRANSACTIONAL',
        defaultChannels: ['EMAIL'],
        frequencyCap: { limit: 1, period: 'DAY', action: 'SUPPRESS' },
        templates: [{ channel: 'EMAIL', subject: 'Nudge {{ data.n }}', text: 'Nudge {{ data.n }}' }],
      },
    });
  }, 120_000);
  afterAll(() => stack?.close());

  const settle = (id: string) =>
    waitFor(
      async () => {
        const { message } = await executeOk(stack.url, MessageDocument, { id });
        return message && SETTLED.includes(message.status) ? message : undefined;
      },
      30_000,
      `message ${id} to be claimed`,
    );

  /** A new user with an email address and marketing consent on it, whose preferences say one MARKETING message a day. */
  const newUser = async () => {
    const userId = `u-${randomUUID()}`;
    await executeOk(stack.url, UpdateContactDocument, {
      userId,
      input: { email: `${userId}@example.com`, timezone: 'Europe/Berlin' },
    });
    await executeOk(stack.url, GrantConsentDocument, { input: { userId, channel: 'EMAIL', source: 'api' } });
    await executeOk(stack.url, UpdatePreferencesDocument, { userId, input: { frequency: 'DAILY' } });
    return userId;
  };

  it('two sends fired together: one goes, the other is held by the cap (preference DAILY, and a type capped at 1 a day)', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const userId = await newUser();
      // Even rounds: the user's MARKETING frequency (DAILY → defer); odd rounds: the type's own cap (→ suppress).
      const type = round % 2 === 0 ? 'weekly_offer' : 'balance_nudge';
      const sent = await Promise.all(
        [1, 2].map(
          async (n) =>
            (
              await executeOk(stack.url, SendNotificationDocument, {
                input: { userId, type, channels: ['EMAIL'], data: { n } },
              })
            ).sendNotification.notification.messages[0].id,
        ),
      );
      const messages = await Promise.all(sent.map(settle));
      const statuses = messages.map((m) => m.status).sort();
      const held = round % 2 === 0 ? 'SCHEDULED' : 'SUPPRESSED';
      expect(statuses, `round ${round} (${type})`).toEqual(['SENT', held].sort((a, b) => (a < b ? -1 : 1)));
      expect(messages.find((m) => m.status === held)?.error?.code).toBe(
        round % 2 === 0 ? 'frequency' : 'frequency_capped',
      );
    }
  }, 180_000);
});
