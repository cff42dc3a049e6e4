import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendNotificationsDocument } from '../support/generated/graphql';
import { executeOk, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const PER_SECOND = 5;

/** The limit is shared through Redis: two worker processes together never exceed it. */
describe('per-provider send rate across two worker processes', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ role: 'api', extraEnv: { PROVIDER_RATE_LIMITS: `twilio-sms=${PER_SECOND}` } });
    await Promise.all([stack.spawnRole('worker'), stack.spawnRole('worker')]);
  });
  afterAll(() => stack?.close());

  it(
    `never more than ${PER_SECOND} Twilio SMS per second (asserted as a bound on sends per window, not as a speed)`,
    { timeout: 60_000 },
    async () => {
      const inputs = Array.from({ length: 30 }, (_, i) => ({
        userId: `u-rate-${i}`,
        type: 'adhoc',
        channels: ['SMS' as const],
        to: { phone: '+14155552671' },
        content: { body: `n${i}` },
      }));
      const { sendNotifications } = await executeOk(stack.url, SendNotificationsDocument, { inputs });
      expect(sendNotifications.summary.accepted).toBe(30);
      await waitFor(
        () => Promise.resolve(stack.emulator.emulator.recorded('twilio').length >= 30),
        45_000,
        '30 sends',
      );
      const times = stack.emulator.emulator
        .recorded('twilio')
        .map((r) => Date.parse(r.receivedAt))
        .sort((a, b) => a - b);
      // The limiter counts in fixed one-second windows, so any 2N+1 consecutive sends span more than a second.
      for (let i = 0; i + 2 * PER_SECOND < times.length; i += 1) {
        expect(times[i + 2 * PER_SECOND] - times[i]).toBeGreaterThanOrEqual(1_000);
      }
      expect(times).toHaveLength(30);
    },
  );
});
