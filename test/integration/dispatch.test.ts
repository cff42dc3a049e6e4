import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  MessageDocument,
  RegisterDeviceDocument,
  SendNotificationDocument,
  SendNotificationsDocument,
  UpsertNotificationTypeDocument,
  type SendNotificationInput,
} from '../support/generated/graphql';
import { executeOk, waitFor } from '../support/graphql';
import { ManualClock } from '../support/clock';
import { startStack, type TestStack } from '../support/stack';

const FINAL = ['SENT', 'FAILED', 'SUPPRESSED', 'CANCELLED'];

describe('dispatch outcomes (worker + real SDKs + emulator faults)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ extraEnv: { DISPATCH_MAX_ATTEMPTS: '4' } });
  });
  beforeEach(() => stack.emulator.emulator.reset());
  afterAll(() => stack?.close());

  const send = async (input: SendNotificationInput) =>
    (await executeOk(stack.url, SendNotificationDocument, { input })).sendNotification.notification;

  const settle = (id: string) =>
    waitFor(
      async () => {
        const { message } = await executeOk(stack.url, MessageDocument, { id });
        return message && FINAL.includes(message.status) ? message : undefined;
      },
      20_000,
      `message ${id} to settle`,
    );

  it('a permanent vendor error (Twilio 21211) ends FAILED with the vendor code after one request', async () => {
    const notification = await send({
      userId: 'u-perm',
      type: 'otp',
      channels: ['SMS'],
      to: { phone: '+15005550001' },
      content: { body: 'code 1234' },
    });
    const message = await settle(notification.messages[0].id);
    expect(message).toMatchObject({ status: 'FAILED', attempt: 1, error: { code: '21211' } });
    expect(message.failedAt).toBeTruthy();
    // No provider accepted it: it costs nothing (README "Cost"), though an estimate was held while it waited.
    expect(message).toMatchObject({ cost: null, costSource: null });
    expect(stack.emulator.emulator.recorded('twilio')).toHaveLength(1);
    expect(message.events.map((e) => e.status)).toEqual(['QUEUED', 'SENDING', 'FAILED']);
  });

  it('FCM UNREGISTERED ends FAILED and deactivates that device', async () => {
    const userId = `u-${randomUUID()}`;
    await executeOk(stack.url, RegisterDeviceDocument, {
      input: { userId, token: 'unregistered-phone', platform: 'ANDROID' },
    });
    const notification = await send({
      userId,
      type: 'alert',
      channels: ['PUSH'],
      content: { title: 'Alert' },
    });
    const message = await settle(notification.messages[0].id);
    expect(message).toMatchObject({
      status: 'FAILED',
      error: { code: 'UNREGISTERED' },
      to: 'unregistered-phone',
    });
    const devices = await stack.herald.services.contacts.listDevices(
      { tenantId: 'default', subject: 't', scopes: [] },
      userId,
      true,
    );
    expect(devices).toMatchObject([
      { token: 'unregistered-phone', active: false, deactivatedReason: 'UNREGISTERED' },
    ]);
  });

  it.each([
    { status: 503, vendor: 'sendgrid' as const, channel: 'EMAIL' as const, to: { email: 'a@example.com' } },
    { status: 429, vendor: 'twilio' as const, channel: 'SMS' as const, to: { phone: '+14155552671' } },
    { status: 503, vendor: 'fcm' as const, channel: 'PUSH' as const, to: { deviceTokens: ['tok-retry'] } },
  ])(
    'a $status from $vendor is retried with backoff and ends SENT once the emulator recovers',
    async ({ status, vendor, channel, to }) => {
      stack.emulator.emulator.injectFault({ vendor, count: 2, status });
      const notification = await send({
        userId: 'u-retry',
        type: 'notice',
        channels: [channel],
        to,
        content: { subject: 's', text: 't', body: 'b', title: 'T' },
      });
      const message = await settle(notification.messages[0].id);
      expect(message).toMatchObject({ status: 'SENT', attempt: 3 });
      expect(message.events.map((e) => e.status)).toEqual([
        'QUEUED',
        'SENDING',
        'SCHEDULED',
        'QUEUED',
        'SENDING',
        'SCHEDULED',
        'QUEUED',
        'SENDING',
        'SENT',
      ]);
      expect(message.events.filter((e) => e.status === 'SCHEDULED').map((e) => e.attempt)).toEqual([1, 2]);
      expect(stack.emulator.emulator.recorded(vendor).map((r) => r.status)).toEqual([
        status,
        status,
        vendor === 'twilio' ? 201 : vendor === 'sendgrid' ? 202 : 200,
      ]);
    },
  );

  it('retries are bounded: past DISPATCH_MAX_ATTEMPTS the message ends FAILED with MAX_ATTEMPTS', async () => {
    stack.emulator.emulator.injectFault({ vendor: 'twilio', count: 100, status: 503 });
    const notification = await send({
      userId: 'u-max',
      type: 'notice',
      channels: ['SMS'],
      to: { phone: '+14155552671' },
      content: { body: 'b' },
    });
    const message = await settle(notification.messages[0].id);
    expect(message).toMatchObject({ status: 'FAILED', attempt: 4, error: { code: 'MAX_ATTEMPTS' } });
    expect(message.error?.message).toContain('gave up after 4 attempts');
    expect(stack.emulator.emulator.recorded('twilio')).toHaveLength(4);
  });

  it('a duplicate job for a message already claimed or sent sends nothing', async () => {
    const notification = await send({
      userId: 'u-dup',
      type: 'notice',
      channels: ['EMAIL'],
      to: { email: 'dup@example.com' },
      content: { subject: 's', text: 't' },
    });
    const id = notification.messages[0].id;
    await settle(id);
    const outcome = await stack.herald.services.dispatch.dispatch({
      messageId: id,
      tenantId: 'default',
      attempt: 1,
    });
    expect(outcome).toBe('skipped');
    await stack.herald.services.deps.queues.enqueue([
      { id, tenantId: 'default', attempt: 0, channel: 'EMAIL', priority: 'MEDIUM' },
    ]);
    await new Promise((r) => setTimeout(r, 300));
    expect(stack.emulator.emulator.recorded('sendgrid')).toHaveLength(1);
    const { message } = await executeOk(stack.url, MessageDocument, { id });
    expect(message).toMatchObject({ status: 'SENT', attempt: 1 });
  });
});

describe('the row claim under concurrency (API role only: no worker takes the job)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ role: 'api' });
  });
  afterAll(() => stack?.close());

  it('two dispatches of one QUEUED message race: exactly one sends', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: 'u-race',
        type: 'notice',
        channels: ['SMS'],
        to: { phone: '+14155552671' },
        content: { body: 'once' },
      },
    });
    const id = sendNotification.notification.messages[0].id;
    const job = { messageId: id, tenantId: 'default', attempt: 1 };
    const outcomes = await Promise.all([1, 2, 3].map(() => stack.herald.services.dispatch.dispatch(job)));
    expect(outcomes.sort()).toEqual(['sent', 'skipped', 'skipped']);
    expect(stack.emulator.emulator.recorded('twilio')).toHaveLength(1);
  });

  it('concurrent dispatches claim their messages in one transaction, and every message is SENT once', async () => {
    const { sendNotifications } = await executeOk(stack.url, SendNotificationsDocument, {
      inputs: Array.from({ length: 6 }, (_, i) => ({
        userId: `u-group-${i}`,
        type: 'notice',
        channels: ['SMS' as const],
        to: { phone: '+14155552671' },
        content: { body: `group ${i}` },
      })),
    });
    const db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    const ids = (
      await db.query<{ id: string }>('select id from message where notification_id = any($1)', [
        sendNotifications.results.map((r) => r.notification!.id),
      ])
    ).rows.map((r) => r.id);
    expect(ids).toHaveLength(6);
    const outcomes = await Promise.all(
      ids.map((messageId) =>
        stack.herald.services.dispatch.dispatch({ messageId, tenantId: 'default', attempt: 1 }),
      ),
    );
    expect(outcomes).toEqual(ids.map(() => 'sent'));
    // Delivery events are never updated: their xmin is the transaction that wrote them.
    const { rows } = await db.query<{ status: string; transactions: number; events: number }>(
      `select status, count(distinct xmin::text)::int transactions, count(*)::int events
         from delivery_event where message_id = any($1) and status in ('SENDING', 'SENT')
        group by status order by status`,
      [ids],
    );
    await db.end();
    // The claims are made in one turn, so they are one group; the sends come back when the provider answers, so
    // their records group only as far as the answers arrive together.
    expect(rows[0]).toEqual({ status: 'SENDING', transactions: 1, events: 6 });
    expect(rows[1]).toMatchObject({ status: 'SENT', events: 6 });
  });

  it('a claim group reads its messages’ small explicit contents in one statement, not one per message at render', async () => {
    const { sendNotifications } = await executeOk(stack.url, SendNotificationsDocument, {
      inputs: Array.from({ length: 6 }, (_, i) => ({
        userId: `u-content-${i}`,
        type: 'notice',
        channels: ['SMS' as const],
        to: { phone: '+14155552671' },
        content: { body: `content ${i}` },
      })),
    });
    const db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    const ids = (
      await db.query<{ id: string }>('select id from message where notification_id = any($1)', [
        sendNotifications.results.map((r) => r.notification!.id),
      ])
    ).rows.map((r) => r.id);
    await db.end();
    const knex = stack.herald.services.deps.orm.em.getConnection().getKnex();
    const notificationReads: string[] = [];
    const onQuery = (query: { sql: string }) => {
      // Reads, not the record groups' locks of the notifications whose roll-up they refresh (`for update`).
      const read = /^\s*select\b[\s\S]*\bfrom "?notification"?\s/i.test(query.sql);
      if (read && !/\bfor update\s*$/i.test(query.sql)) notificationReads.push(query.sql);
    };
    knex.on('query', onQuery);
    try {
      const outcomes = await Promise.all(
        ids.map((messageId) =>
          stack.herald.services.dispatch.dispatch({ messageId, tenantId: 'default', attempt: 1 }),
        ),
      );
      expect(outcomes).toEqual(ids.map(() => 'sent'));
    } finally {
      knex.off('query', onQuery);
    }
    // The group's notifications, then their contents: two reads for six messages (before: one more per message).
    expect(notificationReads).toHaveLength(2);
    const sent = stack.emulator.emulator
      .recorded('twilio')
      .map((r) => (r.body as Record<string, string>).Body)
      .filter((body) => body?.startsWith('content '));
    expect(sent.sort()).toEqual(Array.from({ length: 6 }, (_, i) => `content ${i}`));
  });

  it('a push FCM refuses at send (a reserved data key, accepted before accept knew the rule) ends FAILED INVALID_ARGUMENT after one request', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: 'u-fcm-refused',
        type: 'notice',
        channels: ['PUSH'],
        to: { deviceTokens: ['tok-refused'] },
        content: { title: 'T' },
        data: { orderId: '42' },
      },
    });
    const id = sendNotification.notification.messages[0].id;
    // As a row an earlier release accepted, waiting for its due time, would carry it.
    const db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    await db.query('update notification set data = $2 where id = $1', [
      sendNotification.notification.id,
      { from: 'shop', orderId: '42' },
    ]);
    await db.end();
    const job = { messageId: id, tenantId: 'default', attempt: 1 };
    expect(await stack.herald.services.dispatch.dispatch(job)).toBe('failed');
    const { message } = await executeOk(stack.url, MessageDocument, { id });
    expect(message).toMatchObject({
      status: 'FAILED',
      attempt: 1,
      error: { code: 'INVALID_ARGUMENT', message: 'Invalid data payload key: from' },
    });
    const requests = stack.emulator.emulator
      .recorded('fcm')
      .filter((r) => (r.body as { message: { token?: string } }).message.token === 'tok-refused');
    expect(requests.map((r) => r.status)).toEqual([400]);
  });

  it('a push to a malformed topic (accepted before accept knew the rule) ends FAILED INVALID_PAYLOAD after one attempt, nothing sent (break round, finding 5)', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: 'u-fcm-topic',
        type: 'notice',
        channels: ['PUSH'],
        to: { topic: 'news' },
        content: { title: 'T' },
      },
    });
    const id = sendNotification.notification.messages[0].id;
    // As the break round's "a b/c" was stored by the release before this rule.
    const db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    await db.query(`update message set "to" = 'topic:a b/c' where id = $1`, [id]);
    await db.end();
    const before = stack.emulator.emulator.recorded('fcm').length;
    const job = { messageId: id, tenantId: 'default', attempt: 1 };
    expect(await stack.herald.services.dispatch.dispatch(job)).toBe('failed');
    const { message } = await executeOk(stack.url, MessageDocument, { id });
    expect(message).toMatchObject({
      status: 'FAILED',
      attempt: 1,
      error: { code: 'INVALID_PAYLOAD', message: 'Malformed topic name' },
    });
    expect(message!.events.map((e) => e.status)).toEqual(['QUEUED', 'SENDING', 'FAILED']);
    // firebase-admin refuses it before any request; a second dispatch of the same job finds it final.
    expect(stack.emulator.emulator.recorded('fcm')).toHaveLength(before);
    expect(await stack.herald.services.dispatch.dispatch(job)).toBe('skipped');
  });

  it('a push template that renders past FCM’s 4,096 bytes with the send’s data ends FAILED TEMPLATE_LIMIT, nothing sent', async () => {
    await executeOk(stack.url, UpsertNotificationTypeDocument, {
      input: {
        key: 'long_push',
        name: 'Long push',
        defaultChannels: ['PUSH'],
        templates: [{ channel: 'PUSH', title: 't'.repeat(3_000) }],
      },
    });
    // Accept sees the data (about 1,350 bytes with Herald's ids) but not the title, which only rendering makes.
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: 'u-long-push',
        type: 'long_push',
        to: { deviceTokens: ['tok-long'] },
        data: { note: 'n'.repeat(1_200) },
      },
    });
    const id = sendNotification.notification.messages[0].id;
    const job = { messageId: id, tenantId: 'default', attempt: 1 };
    expect(await stack.herald.services.dispatch.dispatch(job)).toBe('failed');
    const { message } = await executeOk(stack.url, MessageDocument, { id });
    expect(message).toMatchObject({ status: 'FAILED', error: { code: 'TEMPLATE_LIMIT' } });
    expect(message?.error?.message).toMatch(
      /^content\.push\.body: the push would carry 4,\d{3} bytes of FCM payload .* over FCM's maximum of 4,096 bytes to a device token$/,
    );
    expect(
      stack.emulator.emulator
        .recorded('fcm')
        .filter((r) => (r.body as { message: { token?: string } }).message.token === 'tok-long'),
    ).toEqual([]);
  });

  it('another tenant cannot dispatch or read the message', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: 'u-tenant',
        type: 'notice',
        channels: ['SMS'],
        to: { phone: '+14155552671' },
        content: { body: 'x' },
      },
    });
    const id = sendNotification.notification.messages[0].id;
    expect(
      await stack.herald.services.dispatch.dispatch({ messageId: id, tenantId: 'other', attempt: 1 }),
    ).toBe('skipped');
    expect(
      await stack.herald.services.queries.message({ tenantId: 'other', subject: 's', scopes: [] }, id),
    ).toBeNull();
  });
});

describe('Retry-After (injected clock, API role: the test runs each step)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ role: 'api', clock: new ManualClock(new Date('2030-05-01T00:00:00Z')) });
  });
  afterAll(() => stack?.close());

  it('a 429 with Retry-After is not retried before it, even when the backoff would be sooner', async () => {
    stack.emulator.emulator.injectFault({
      vendor: 'sendgrid',
      count: 1,
      status: 429,
      retryAfterSeconds: 120,
    });
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: 'u-ra',
        type: 'notice',
        channels: ['EMAIL'],
        to: { email: 'ra@example.com' },
        content: { subject: 's', text: 't' },
      },
    });
    const id = sendNotification.notification.messages[0].id;
    expect(
      await stack.herald.services.dispatch.dispatch({ messageId: id, tenantId: 'default', attempt: 1 }),
    ).toBe('retry');
    const { message } = await executeOk(stack.url, MessageDocument, { id });
    expect(message).toMatchObject({ status: 'SCHEDULED', error: { code: '429' } });
    // Backoff alone would be 50 ms (DISPATCH_BACKOFF_BASE_MS in tests); the vendor asked for 120 s.
    const due = (await stack.herald.services.queries.message(
      { tenantId: 'default', subject: 't', scopes: [] },
      id,
    ))!.dueAt!;
    expect(due.toISOString()).toBe('2030-05-01T00:02:00.000Z');
  });
});
