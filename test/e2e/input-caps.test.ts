import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CancelNotificationDocument,
  RegisterDeviceDocument,
  SendNotificationDocument,
  SendNotificationsDocument,
  UpsertNotificationTypeDocument,
  type SendNotificationInput,
} from '../support/generated/graphql';
import { execute, executeOk } from '../support/graphql';
import { useWebhookStack } from '../support/webhooks';

/**
 * Caps found by the break-it review: counts that fan out into rows (device tokens, batch messages, devices per user),
 * strings too long for a btree index entry, dates PostgreSQL cannot hold, uncapped URLs, and errors that echo input.
 */
describe('input caps: nothing a caller sends reaches PostgreSQL unstorable or fans out unbounded', () => {
  const suite = useWebhookStack();
  const { sender } = suite;

  const count = async (table: string, where = 'true', params: unknown[] = []) =>
    (await suite.db.query<{ n: number }>(`select count(*)::int n from ${table} where ${where}`, params))
      .rows[0].n;
  const push = (userId: string, to: SendNotificationInput['to']): SendNotificationInput => ({
    userId,
    type: 'adhoc',
    channels: ['PUSH'],
    to,
    content: { title: 'hi' },
  });
  const tokens = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

  it('to.deviceTokens: at most 100 per send, single and in a batch; 100 are accepted', async () => {
    const refused = await execute(suite.stack.url, SendNotificationDocument, {
      input: push('u-tokens', { deviceTokens: tokens(101, 'a') }),
    });
    expect(refused.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'to.deviceTokens' },
    });
    expect(refused.errors?.[0].message).toMatch(/at most 100/);
    const batch = await executeOk(suite.stack.url, SendNotificationsDocument, {
      inputs: [
        push('u-tokens', { deviceTokens: tokens(2_000, 'b') }),
        push('u-tokens', { deviceTokens: tokens(100, 'c') }),
      ],
    });
    expect(batch.sendNotifications.results[0].error).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(batch.sendNotifications.results[0].error?.message).toMatch(/to\.deviceTokens: at most 100/);
    expect(batch.sendNotifications.results[1].notification).toBeTruthy();
    expect(await count('message', "user_id = 'u-tokens'")).toBe(100);
  });

  it('sendNotifications: at most 10,000 messages in all; the input that would pass it is refused, the rest stand', async () => {
    const inputs = Array.from({ length: 101 }, (_, i) =>
      push(`u-batch-${i}`, { deviceTokens: tokens(100, `batch-${i}`) }),
    );
    const { sendNotifications } = await executeOk(suite.stack.url, SendNotificationsDocument, { inputs });
    expect(sendNotifications.summary).toMatchObject({ total: 101, accepted: 100, failed: 1 });
    expect(sendNotifications.results[100].error).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(sendNotifications.results[100].error?.message).toMatch(/inputs\[100\].*10000 messages/);
    expect(await count('message', "user_id like 'u-batch-%'")).toBe(10_000);
  });

  it('registerDevice: a user keeps at most 100 active devices; the least recently registered is deactivated', async () => {
    const userId = `u-devices-${randomUUID()}`;
    for (const token of tokens(101, userId)) {
      await executeOk(suite.stack.url, RegisterDeviceDocument, { input: { userId, token } });
    }
    expect(await count('device', 'user_id = $1 and active', [userId])).toBe(100);
    const { rows } = await suite.db.query<{ token: string; deactivated_reason: string }>(
      'select token, deactivated_reason from device where user_id = $1 and not active',
      [userId],
    );
    expect(rows).toEqual([{ token: `${userId}-0`, deactivated_reason: 'device_limit' }]);
  }, 240_000);

  it('strings of indexed columns are capped in bytes: a 4,000-character token is BAD_USER_INPUT, not a 500', async () => {
    for (const [token, field] of [
      ['t'.repeat(4_000), 'input.token'],
      ['€'.repeat(1_000), 'input.token'], // 1,000 characters, 3,000 bytes
    ] as const) {
      const result = await execute(suite.stack.url, RegisterDeviceDocument, {
        input: { userId: 'u-long', token },
      });
      expect(result.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field } });
      expect(result.errors?.[0].message).toMatch(/at most 1024 bytes/);
    }
    const send = await execute(suite.stack.url, SendNotificationDocument, {
      input: push('u-long', { deviceTokens: ['t'.repeat(4_000)] }),
    });
    expect(send.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'to.deviceTokens[0]' },
    });
    expect(await count('device', "user_id = 'u-long'")).toBe(0);
  });

  it('webhook ids too long for an index: Twilio answers 400, SendGrid skips the one event and keeps the others', async () => {
    const sid = `SM${'a'.repeat(9_000)}`;
    const status = await sender.twilio('/webhooks/twilio/status', {
      MessageSid: sid,
      MessageStatus: 'delivered',
      To: '+14155552671',
    });
    expect(status.status).toBe(400);
    const inbound = await sender.twilio('/webhooks/twilio/inbound', {
      MessageSid: sid,
      From: '+14155552671',
      To: '+14155550000',
      Body: 'hello',
    });
    expect(inbound.status).toBe(400);
    const event = (id: string) => ({
      email: 'a@example.com',
      timestamp: Math.floor(Date.now() / 1000),
      event: 'delivered',
      sg_event_id: id,
      sg_message_id: 'abc.filter0001',
    });
    expect((await sender.sendgrid([event('x'.repeat(9_000))])).status).toBe(400);
    const good = `ok-${randomUUID()}`;
    expect((await sender.sendgrid([event('y'.repeat(9_000)), event(good)])).status).toBe(200);
    expect(await count('provider_event', 'event_key = $1', [good])).toBe(1);
    expect(await count('provider_event', 'length(event_key) > 256')).toBe(0);
  });

  it.each([['0000-01-01T00:00:00Z'], ['0001-01-01T00:00:00+01:00'], ['1969-12-31T23:59:59Z']])(
    'scheduledAt %s is BAD_USER_INPUT naming the range, single and batch',
    async (scheduledAt) => {
      const input = { ...push('u-date', { deviceTokens: ['tok'] }), scheduledAt };
      const single = await execute(suite.stack.url, SendNotificationDocument, { input });
      expect(single.errors?.[0]).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'scheduledAt' },
      });
      expect(single.errors?.[0].message).toMatch(/between 1970-01-01T00:00:00.000Z and/);
      const batch = await executeOk(suite.stack.url, SendNotificationsDocument, { inputs: [input] });
      expect(batch.sendNotifications.results[0].error).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(await count('notification', "user_id = 'u-date'")).toBe(0);
    },
  );

  it('a template imageUrl has the URL cap of sends (2,048 characters)', async () => {
    const imageUrl = `https://cdn.example.com/${'x'.repeat(70_000)}`;
    const result = await execute(suite.stack.url, UpsertNotificationTypeDocument, {
      input: {
        key: 'long_image',
        name: 'Long image',
        templates: [{ channel: 'PUSH', title: 'hi', imageUrl }],
      },
    });
    expect(result.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'input.templates[0].imageUrl' },
    });
    expect(result.errors?.[0].message).toMatch(/at most 2048 characters/);
    expect(await count('notification_type', "key = 'long_image'")).toBe(0);
  });

  it('errors quote at most 100 characters of a value', async () => {
    const id = 'z'.repeat(100_000);
    const cancel = await execute(suite.stack.url, CancelNotificationDocument, { id });
    expect(cancel.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    expect(cancel.errors?.[0].message).toBe(`id: no notification "${'z'.repeat(100)}…"`);
    const type = await execute(suite.stack.url, SendNotificationDocument, {
      input: { userId: 'u-quote', type: 'q'.repeat(100), channels: [] },
    });
    expect(type.errors?.[0].message.length).toBeLessThan(200);
    const email = await execute(suite.stack.url, SendNotificationDocument, {
      input: { userId: 'u-quote', type: 'adhoc', channels: ['EMAIL'], to: { email: 'e'.repeat(50_000) } },
    });
    expect(email.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'to.email' } });
    expect(email.errors?.[0].message.length).toBeLessThan(200);
  });
});
