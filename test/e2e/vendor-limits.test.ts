import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fcmPayloadBytes } from '../../src/providers/vendor-limits';
import {
  SendNotificationDocument,
  SendNotificationsDocument,
  type SendNotificationInput,
} from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { customerWrites } from '../support/whatsapp';
import { useWebhookStack } from '../support/webhooks';

/**
 * Issue 12, kind 2: what a vendor documents it refuses (src/providers/vendor-limits.ts, with sources) is refused at
 * accept, naming the field and the rule, with the sources' numbers: at the limit accepted and sent, one over refused.
 */
describe('vendor limits at accept (issue 12, kind 2)', () => {
  const suite = useWebhookStack();
  const { sender } = suite;
  const push = (userId: string, to: SendNotificationInput['to']): SendNotificationInput => ({
    userId,
    type: 'adhoc',
    channels: ['PUSH'],
    to,
    content: { title: 'hi' },
  });

  const statusOf = async (userId: string) =>
    (
      await suite.db.query<{ status: string; error_code: string | null }>(
        'select status, error_code from message where user_id = $1',
        [userId],
      )
    ).rows;
  const settled = (userId: string) =>
    waitFor(
      async () => {
        const rows = await statusOf(userId);
        if (rows.length > 0 && rows.every((r) => !['QUEUED', 'SENDING', 'SCHEDULED'].includes(r.status)))
          return rows;
        throw new Error(`still ${JSON.stringify(rows)}`);
      },
      20_000,
      `messages of ${userId} to settle`,
    );
  /**
   * A signed inbound message from the number: a WhatsApp number that wrote in is inside its 24-hour service window,
   * where a free-form body may be sent.
   */
  const inbound = async (channel: 'SMS' | 'WHATSAPP', phone: string) => {
    // WhatsApp: through the emulated Twilio, which opens its own window and forwards the message to Herald signed.
    if (channel === 'WHATSAPP') return (await customerWrites(suite.stack.emulator.url, phone)).forwarded!;
    return sender.twilio('/webhooks/twilio/inbound', {
      MessageSid: `SM${randomUUID().replaceAll('-', '')}`,
      From: phone,
      To: '+15005550006',
      Body: 'hello',
      NumMedia: '0',
    });
  };
  /** The keys and values Herald adds to every push's data: two UUIDs and the type key. */
  const heraldBytes = (type: string) =>
    'heraldNotificationId'.length + 36 + 'heraldMessageId'.length + 36 + 'heraldType'.length + type.length;

  it('PUSH data { from, "google.c.a.e", message_type, orderId } is BAD_USER_INPUT naming the reserved keys; the batch’s other send stands; on EMAIL the same data is only template variables', async () => {
    const data = { from: 'shop', 'google.c.a.e': '1', message_type: 'order', orderId: '42' };
    const userId = `u-reserved-${randomUUID()}`;
    const refused = await execute(suite.stack.url, SendNotificationDocument, {
      input: { ...push(userId, { deviceTokens: ['tok'] }), data },
    });
    expect(refused.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'data.from' },
    });
    expect(refused.errors?.[0].message).toBe(
      'data.from: "from" is reserved by FCM, which refuses a push whose data has the key "from", "message_type" or "notification", or a key starting with "google" or "gcm"; also reserved: data["google.c.a.e"], data.message_type',
    );
    const batch = await executeOk(suite.stack.url, SendNotificationsDocument, {
      inputs: [
        { ...push(userId, { deviceTokens: ['tok'] }), data: { 'gcm.n.e': '1' } },
        { ...push(userId, { deviceTokens: ['tok'] }), data: { orderId: '42' } },
      ],
    });
    expect(batch.sendNotifications.results[0].error).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(batch.sendNotifications.results[0].error?.message).toMatch(/^data\["gcm\.n\.e"\]: /);
    expect(batch.sendNotifications.results[1].notification).toBeTruthy();
    expect(await settled(userId)).toEqual([{ status: 'SENT', error_code: null }]);
    const email = await executeOk(suite.stack.url, SendNotificationDocument, {
      input: {
        userId,
        type: 'adhoc',
        channels: ['EMAIL'],
        to: { email: 'a@example.com' },
        content: { subject: 's', text: 't' },
        data,
      },
    });
    expect(email.sendNotification.notification.id).toBeTruthy();
  });

  it.each([
    { to: { deviceTokens: ['tok-size'] }, limit: 4_096, what: 'a device token' },
    { to: { topic: 'news' }, limit: 2_048, what: 'a topic or condition' },
    { to: { condition: "'news' in topics" }, limit: 2_048, what: 'a topic or condition' },
  ])(
    'PUSH to $to: an FCM payload of $limit bytes is accepted and sent as measured, one more is BAD_USER_INPUT naming the size',
    async ({ to, limit, what }) => {
      const userId = `u-size-${randomUUID()}`;
      // title + "hi" = 7 bytes; "k" + the value; Herald's ids and type.
      const pad = (bytes: number) => 'x'.repeat(bytes - 7 - heraldBytes('adhoc') - 1);
      const over = await execute(suite.stack.url, SendNotificationDocument, {
        input: { ...push(userId, to), data: { k: pad(limit + 1) } },
      });
      expect(over.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'data' } });
      expect(over.errors?.[0].message).toContain(
        `data: the push would carry ${(limit + 1).toLocaleString('en-US')} bytes of FCM payload`,
      );
      expect(over.errors?.[0].message).toContain(
        `over FCM's maximum of ${limit.toLocaleString('en-US')} bytes to ${what}`,
      );
      await executeOk(suite.stack.url, SendNotificationDocument, {
        input: { ...push(userId, to), data: { k: pad(limit) } },
      });
      expect(await settled(userId)).toEqual([{ status: 'SENT', error_code: null }]);
      const sent = suite.stack.emulator.emulator
        .recorded('fcm')
        .map(
          (r) => (r.body as { message: Parameters<typeof fcmPayloadBytes>[0] & { data?: object } }).message,
        )
        .find((m) => (m.data as { k?: string } | undefined)?.k === pad(limit));
      expect(fcmPayloadBytes(sent!)).toBe(limit);
    },
  );

  it('FCM targets: topic "a b/c", a 6-topic condition and "drop table" are BAD_USER_INPUT naming the field and rule; /topics/news and 5 topics are sent (break round, finding 5)', async () => {
    const userId = `u-fcm-target-${randomUUID()}`;
    const five = ['a', 'b', 'c', 'd', 'e'].map((t) => `'${t}' in topics`).join(' || ');
    const refused = [
      [{ topic: 'a b/c' }, 'to.topic', 'to.topic: "a b/c" is not a valid FCM topic name: " " at character 2'],
      [{ condition: `${five} || 'f' in topics` }, 'to.condition', 'is topic 6;'],
      [{ condition: 'drop table' }, 'to.condition', 'expected \'topic\' in topics, ( or ! but found "drop"'],
    ] as const;
    for (const [to, field, message] of refused) {
      const answer = await execute(suite.stack.url, SendNotificationDocument, { input: push(userId, to) });
      expect(answer.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field } });
      expect(answer.errors?.[0].message).toContain(message);
    }
    expect(await statusOf(userId)).toEqual([]);

    await executeOk(suite.stack.url, SendNotificationDocument, {
      input: push(userId, { topic: '/topics/news' }),
    });
    await executeOk(suite.stack.url, SendNotificationDocument, { input: push(userId, { condition: five }) });
    expect(await settled(userId)).toEqual([
      { status: 'SENT', error_code: null },
      { status: 'SENT', error_code: null },
    ]);
    const stored = await suite.db.query<{ to: string }>(
      'select "to" from message where user_id = $1 order by created_at',
      [userId],
    );
    expect(stored.rows.map((r) => r.to)).toEqual(['topic:news', `condition:${five}`]);
  });

  it('the issue’s 5,000-byte push is refused whether it is data or the body', async () => {
    const userId = `u-5000-${randomUUID()}`;
    const data = await execute(suite.stack.url, SendNotificationDocument, {
      input: { ...push(userId, { deviceTokens: ['tok'] }), data: { note: 'n'.repeat(5_000) } },
    });
    expect(data.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'data' } });
    expect(data.errors?.[0].message).toMatch(/would carry 5,\d{3} bytes of FCM payload/);
    const body = await execute(suite.stack.url, SendNotificationDocument, {
      input: {
        ...push(userId, { deviceTokens: ['tok'] }),
        content: { title: 'hi', body: 'b'.repeat(5_000) },
      },
    });
    expect(body.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'content.body' },
    });
    expect(await statusOf(userId)).toEqual([]);
  });

  it.each([
    { channel: 'SMS' as const, phone: '+14155550123', to: { phone: '+14155550123' } },
    { channel: 'WHATSAPP' as const, phone: '+14155550124', to: { whatsapp: '+14155550124' } },
  ])(
    '$channel: a body of 1,600 characters is accepted and sent, 1,601 is BAD_USER_INPUT (Twilio)',
    async ({ channel, phone, to }) => {
      const userId = `u-body-${randomUUID()}`;
      expect((await inbound(channel, phone)).status).toBe(200);
      const send = (body: string) =>
        execute(suite.stack.url, SendNotificationDocument, {
          input: { userId, type: 'adhoc', channels: [channel], to, content: { body } },
        });
      const over = await send('a'.repeat(1_601));
      expect(over.errors?.[0]).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'content.body' },
      });
      expect(over.errors?.[0].message).toBe(
        `content.body: must be at most 1600 characters (${channel}: Twilio's maximum message body) (got 1601)`,
      );
      expect((await send('a'.repeat(1_600))).errors).toBeUndefined();
      expect(await settled(userId)).toEqual([{ status: 'SENT', error_code: null }]);
    },
  );

  it('content.mediaUrls: 10 on SMS and 1 on WhatsApp are accepted; 11 and 2 are BAD_USER_INPUT', async () => {
    const media = (n: number) => Array.from({ length: n }, (_, i) => `https://cdn.example.com/${i}.png`);
    const send = (channel: 'SMS' | 'WHATSAPP', n: number) =>
      execute(suite.stack.url, SendNotificationDocument, {
        input: {
          userId: 'u-media',
          type: 'adhoc',
          channels: [channel],
          to: channel === 'SMS' ? { phone: '+14155550125' } : { whatsapp: '+14155550125' },
          content: { body: 'pics', mediaUrls: media(n) },
        },
      });
    expect((await inbound('WHATSAPP', '+14155550125')).status).toBe(200);
    expect((await send('SMS', 10)).errors).toBeUndefined();
    expect((await send('SMS', 11)).errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'content.mediaUrls' },
    });
    expect((await send('WHATSAPP', 1)).errors).toBeUndefined();
    const two = await send('WHATSAPP', 2);
    expect(two.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'content.mediaUrls' },
    });
    expect(two.errors?.[0].message).toBe(
      'content.mediaUrls: at most 1 on WHATSAPP (WhatsApp takes one media per message; Twilio drops the rest; got 2)',
    );
  });
});
