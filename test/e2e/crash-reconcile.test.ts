import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageDocument, SendNotificationDocument } from '../support/generated/graphql';
import { executeOk, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

/**
 * The ambiguous crash: a worker hands an SMS to Twilio and dies before recording it. Twilio's status callback (it
 * carries our message id) proves the hand-over, so Herald records the message SENT instead of sending it again when
 * the lease runs out.
 */
describe('a worker killed after the provider call: reconciled by the callback, not resent', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ role: 'api', callbacksDelayMs: 50, extraEnv: { DISPATCH_LEASE_MS: '1000' } });
  });
  afterAll(() => stack?.close());

  const message = async (id: string) => (await executeOk(stack.url, MessageDocument, { id })).message!;

  it(
    'one Twilio request; the message ends DELIVERED with the history saying it was reconciled',
    { timeout: 60_000 },
    async () => {
      const emulator = stack.emulator.emulator;
      // Twilio answers only after 2 s: time to kill the worker while its request is in flight.
      emulator.injectFault({ vendor: 'twilio', count: 1, delayMs: 2_000 });
      const first = await stack.spawnRole('worker');
      const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
        input: {
          userId: `u-${randomUUID()}`,
          type: 'adhoc',
          channels: ['SMS'],
          to: { phone: '+14155552671' },
          content: { body: 'Your code is 424242' },
        },
      });
      const id = sendNotification.notification.messages[0].id;
      await waitFor(() => Promise.resolve(emulator.inFlight === 1), 10_000, 'the request reaching Twilio');
      expect((await message(id)).status).toBe('SENDING');
      first.child.kill('SIGKILL');

      // Twilio accepted it anyway and reports back; the lease has run out by then.
      await waitFor(
        () => Promise.resolve(emulator.recorded('twilio').length === 1),
        10_000,
        'Twilio request',
      );
      await waitFor(async () => (await message(id)).status === 'DELIVERED', 10_000, 'DELIVERED');

      // A new worker finds nothing to resend.
      const second = await stack.spawnRole('worker');
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect(emulator.recorded('twilio')).toHaveLength(1);
      const settled = await message(id);
      expect(settled).toMatchObject({ status: 'DELIVERED', attempt: 1 });
      expect(settled.providerMessageId).toBe(
        (emulator.recorded('twilio')[0].response as { sid: string }).sid,
      );
      expect(settled.events.map((e) => [e.status, e.eventType])).toContainEqual(['SENT', 'reconciled']);
      await second.stop();
    },
  );
});
