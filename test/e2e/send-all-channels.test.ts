import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MessageDocument,
  MessageStatusChangedDocument,
  SendNotificationDocument,
  type MessageStatusChangedSubscription,
} from '../support/generated/graphql';
import { collect, executeOk, waitFor, waitForSubscribers, wsClient } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';
import { CONTENT_SID } from '../support/whatsapp';

/**
 * The vertical slice: each channel goes out through the real SDK to the emulator and reaches SENT, and a graphql-ws
 * subscriber connected to a *different* process (start:api) sees QUEUED → SENDING → SENT.
 */
describe('send on every channel (sandbox credentials, real SDKs, emulator)', () => {
  let stack: TestStack;
  let apiUrl: string;

  beforeAll(async () => {
    stack = await startStack({ role: 'worker' });
    apiUrl = (await stack.spawnRole('api')).url;
  });
  afterAll(() => stack?.close());

  const cases = [
    {
      channel: 'EMAIL' as const,
      to: { email: 'ada@example.com' },
      provider: 'sendgrid',
      vendor: 'sendgrid' as const,
    },
    {
      channel: 'SMS' as const,
      to: { phone: '+14155552671' },
      provider: 'twilio-sms',
      vendor: 'twilio' as const,
    },
    {
      channel: 'WHATSAPP' as const,
      to: { whatsapp: '+14155552671' },
      provider: 'twilio-whatsapp',
      vendor: 'twilio' as const,
    },
    {
      channel: 'PUSH' as const,
      to: { deviceTokens: ['device-token-1'] },
      provider: 'fcm',
      vendor: 'fcm' as const,
    },
  ];

  it.each(cases)(
    '$channel reaches SENT and a subscriber on another process sees every step',
    async ({ channel, to, provider, vendor }) => {
      const userId = `user-${randomUUID()}`;
      await waitForSubscribers(apiUrl, 0);
      const client = wsClient(apiUrl);
      const subscription = collect<MessageStatusChangedSubscription, { userId: string }>(
        client,
        MessageStatusChangedDocument,
        { userId },
        (seen) => seen.some((e) => e.messageStatusChanged.status === 'SENT'),
      );
      await waitForSubscribers(apiUrl, 1);

      const sent = await executeOk(apiUrl, SendNotificationDocument, {
        input: {
          userId,
          type: 'account_notice',
          channels: [channel],
          to,
          content: {
            subject: 'Your statement',
            text: 'It is ready.',
            body: 'Your statement is ready.',
            title: 'Statement',
            // Business-initiated WhatsApp goes as an approved template (free-form only inside the 24-hour window).
            whatsappTemplate: { contentSid: CONTENT_SID, contentVariables: { 1: 'statement' } },
          },
        },
      });
      const notification = sent.sendNotification.notification;
      expect(notification.messages).toHaveLength(1);
      const messageId = notification.messages[0].id;

      const events = await subscription.done;
      await client.dispose();
      expect(events.map((e) => e.messageStatusChanged.status)).toEqual(['QUEUED', 'SENDING', 'SENT']);
      expect(events.map((e) => e.messageStatusChanged.previousStatus)).toEqual([null, 'QUEUED', 'SENDING']);
      expect(events.every((e) => e.messageStatusChanged.notificationId === notification.id)).toBe(true);

      const { message } = await executeOk(apiUrl, MessageDocument, { id: messageId });
      expect(message).toMatchObject({ channel, status: 'SENT', provider, attempt: 1 });
      expect(message?.providerMessageId).toBeTruthy();
      expect(message?.queuedAt && message.sendingAt && message.sentAt).toBeTruthy();
      expect(new Date(message!.sentAt!).getTime()).toBeGreaterThanOrEqual(
        new Date(message!.queuedAt!).getTime(),
      );
      expect(message?.events.map((e) => e.status)).toEqual(['QUEUED', 'SENDING', 'SENT']);

      const recorded = await waitFor(() =>
        Promise.resolve(
          stack.emulator.emulator.recorded(vendor).length > 0 && stack.emulator.emulator.recorded(vendor),
        ),
      );
      expect(recorded.length).toBeGreaterThan(0);
    },
  );
});
