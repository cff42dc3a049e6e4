import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NotificationDocument,
  NotificationsDocument,
  RegisterDeviceDocument,
  SendNotificationDocument,
  UnregisterDeviceDocument,
  UpdateContactDocument,
  UpsertNotificationTypeDocument,
  type SendNotificationInput,
} from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';
import { CONTENT_SID } from '../support/whatsapp';

describe('sendNotification: accept at the edge', () => {
  let stack: TestStack;
  let db: pg.Client;

  beforeAll(async () => {
    stack = await startStack();
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    await executeOk(stack.url, UpsertNotificationTypeDocument, {
      input: {
        key: 'payment_reminder',
        name: 'Payment reminder',
        defaultChannels: ['EMAIL', 'SMS', 'PUSH'],
        templates: [
          {
            channel: 'EMAIL',
            subject: 'Payment of {{ data.amount }} due',
            text: 'Hi, {{ data.amount }} is due.',
          },
          {
            channel: 'EMAIL',
            locale: 'pt-BR',
            subject: 'Pagamento de {{ data.amount }}',
            text: 'Olá, {{ data.amount }} vence.',
          },
          { channel: 'SMS', body: '{{ data.amount }} due tomorrow' },
          { channel: 'PUSH', title: 'Payment due', body: '{{ data.amount }}' },
        ],
      },
    });
  });
  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  const counts = async () => {
    const { rows } = await db.query<{ n: string; m: string; e: string }>(
      'select (select count(*) from notification) n, (select count(*) from message) m, (select count(*) from delivery_event) e',
    );
    return rows[0];
  };

  it.each([
    [
      { channels: ['SMS'], to: { phone: '+1 555' }, content: { body: 'x' } },
      'to.phone',
      'is not a valid E.164 number',
    ],
    [
      { channels: ['SMS'], to: { phone: '4155552671' }, content: { body: 'x' } },
      'to.phone',
      'is not a valid E.164 number',
    ],
    [
      { channels: ['EMAIL'], to: { email: 'not-an-email' }, content: { subject: 's', text: 't' } },
      'to.email',
      'is not a valid email address',
    ],
    [
      { channels: ['WHATSAPP'], to: { whatsapp: '+99' }, content: { body: 'x' } },
      'to.whatsapp',
      'is not a valid E.164 number',
    ],
    [
      { type: 'no_such_type', channels: ['SMS'], to: { phone: '+14155552671' } },
      'type',
      'unknown notification type "no_such_type"',
    ],
    [{ type: 'no_such_type' }, 'type', 'unknown notification type "no_such_type" and no channels given'],
    [
      { channels: ['EMAIL'], content: { subject: 's', text: 't' } },
      'to.email',
      'channel EMAIL has no address',
    ],
    [{ channels: ['PUSH'], content: { title: 't' } }, 'to.deviceTokens', 'channel PUSH has no address'],
    [
      { channels: ['EMAIL'], to: { email: 'a@example.com' }, content: { text: 'no subject' } },
      'type',
      'give content.subject',
    ],
    [
      { channels: ['SMS'], to: { phone: '+14155552671' }, content: { body: 'x', mediaUrls: ['ftp://x'] } },
      'content.mediaUrls[0]',
      'must be an absolute http(s) URL',
    ],
    [
      { userId: '  ', channels: ['SMS'], to: { phone: '+14155552671' }, content: { body: 'x' } },
      'userId',
      'must not be empty',
    ],
  ] as [Partial<SendNotificationInput>, string, string][])(
    'rejects %j: BAD_USER_INPUT naming %s, nothing stored',
    async (partial, field, rule) => {
      const before = await counts();
      const result = await execute(stack.url, SendNotificationDocument, {
        input: { userId: `u-${randomUUID()}`, type: 'adhoc', ...partial },
      });
      expect(result.data).toBeNull();
      expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0]?.extensions?.field).toBe(field);
      expect(result.errors?.[0]?.message).toContain(`${field}: `);
      expect(result.errors?.[0]?.message).toContain(rule);
      expect(await counts()).toEqual(before);
    },
  );

  it('an invalid enum or missing required field is rejected by GraphQL itself', async () => {
    const result = await execute(
      stack.url,
      'mutation { sendNotification(input: { userId: "u", type: "t", channels: [FAX] }) { notification { id } } }',
    );
    expect(result.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('PUSH to a user with two active devices creates two messages (an inactive one is skipped)', async () => {
    const userId = `u-${randomUUID()}`;
    for (const token of ['phone-a', 'tablet-b', 'old-c']) {
      await executeOk(stack.url, RegisterDeviceDocument, {
        input: { userId, token: `${userId}-${token}`, platform: 'IOS' },
      });
    }
    expect(
      (await executeOk(stack.url, UnregisterDeviceDocument, { token: `${userId}-old-c` })).unregisterDevice,
    ).toBe(true);
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: { userId, type: 'payment_reminder', channels: ['PUSH'], data: { amount: '$10' } },
    });
    const messages = sendNotification.notification.messages;
    expect(messages.map((m) => m.to).sort()).toEqual([`${userId}-phone-a`, `${userId}-tablet-b`]);
    expect(messages.every((m) => m.channel === 'PUSH')).toBe(true);
    await waitFor(async () => {
      const { notification } = await executeOk(stack.url, NotificationDocument, {
        id: sendNotification.notification.id,
      });
      return notification?.status === 'COMPLETED' && notification;
    });
  });

  it('type defaults: a default channel without an address is SUPPRESSED (no_address) while the others go out', async () => {
    const userId = `u-${randomUUID()}`;
    await executeOk(stack.url, UpdateContactDocument, {
      userId,
      input: { email: 'ana@example.com', phone: '+5511987654321', locale: 'pt-BR' },
    });
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: { userId, type: 'payment_reminder', data: { amount: 'R$ 50' } },
    });
    const byChannel = Object.fromEntries(sendNotification.notification.messages.map((m) => [m.channel, m]));
    expect(byChannel.PUSH).toMatchObject({ status: 'SUPPRESSED', to: '', error: { code: 'no_address' } });
    expect(byChannel.EMAIL).toMatchObject({ status: 'QUEUED', to: 'ana@example.com' });
    expect(byChannel.SMS).toMatchObject({ status: 'QUEUED', to: '+5511987654321' });

    const settled = await waitFor(async () => {
      const { notification } = await executeOk(stack.url, NotificationDocument, {
        id: sendNotification.notification.id,
      });
      return notification?.status === 'COMPLETED' && notification;
    });
    const email = settled.messages.find((m) => m.channel === 'EMAIL');
    // The user's locale picks the pt-BR template; data fills it.
    expect(email?.content).toMatchObject({ subject: 'Pagamento de R$ 50', text: 'Olá, R$ 50 vence.' });
    expect(settled.messages.find((m) => m.channel === 'SMS')?.content?.body).toBe('R$ 50 due tomorrow');
  });

  it('a template variable missing from data ends the message FAILED with TEMPLATE_ERROR naming it', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: `u-${randomUUID()}`,
        type: 'payment_reminder',
        channels: ['SMS'],
        to: { phone: '+14155552671' },
        data: {},
      },
    });
    const settled = await waitFor(async () => {
      const { notification } = await executeOk(stack.url, NotificationDocument, {
        id: sendNotification.notification.id,
      });
      return notification?.status === 'FAILED' && notification;
    });
    expect(settled.messages[0]?.error?.code).toBe('TEMPLATE_ERROR');
    expect(settled.messages[0]?.error?.message).toContain('data.amount');
    // Never handed to a provider: no cost.
    expect(settled.messages[0]?.cost).toBeNull();
  });

  it('a sent SMS records its segments and cost; the notification sums its messages', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: `u-${randomUUID()}`,
        type: 'adhoc',
        channels: ['SMS', 'EMAIL'],
        to: { phone: '+14155552671', email: 'cost@example.com' },
        content: { body: 'a'.repeat(161), subject: 's', text: 't' },
      },
    });
    const settled = await waitFor(async () => {
      const { notification } = await executeOk(stack.url, NotificationDocument, {
        id: sendNotification.notification.id,
      });
      return notification?.status === 'COMPLETED' && notification;
    });
    const sms = settled.messages.find((m) => m.channel === 'SMS');
    expect(sms).toMatchObject({ segments: 2 });
    const costs = await execute<
      { notification: { cost: number; messages: { channel: string; cost: number }[] } },
      unknown
    >(stack.url, 'query ($id: ID!) { notification(id: $id) { cost messages { channel cost } } }', {
      id: settled.id,
    });
    const byChannel = Object.fromEntries(costs.data!.notification.messages.map((m) => [m.channel, m.cost]));
    // Defaults: $0.0079 per SMS segment ("*"), $0.0001 per email.
    expect(byChannel).toEqual({ SMS: 0.0158, EMAIL: 0.0001 });
    expect(costs.data!.notification.cost).toBe(0.0159);
  });

  it('at accept an SMS stores the segments its estimated cost was counted from (break round, finding 6); a failed one keeps neither', async () => {
    const send = (userId: string, body: string, phone = '+14155552671', scheduled = true) =>
      executeOk(stack.url, SendNotificationDocument, {
        input: {
          userId,
          type: 'adhoc',
          channels: ['SMS'],
          to: { phone },
          content: { body },
          // Waiting SCHEDULED, so the answer and the row show the estimate made at accept.
          ...(scheduled ? { scheduledAt: new Date(Date.now() + 3_600_000).toISOString() } : {}),
        },
      });
    // GSM-7 160 / 161 characters, UCS-2 70 / 71 (Twilio's calculator, as in test/unit/cost.test.ts).
    const cases = [
      ['a'.repeat(160), 1],
      ['a'.repeat(161), 2],
      ['ж'.repeat(70), 1],
      ['ж'.repeat(71), 2],
    ] as const;
    for (const [body, segments] of cases) {
      const { sendNotification } = await send(`u-seg-${randomUUID()}`, body);
      const [message] = sendNotification.notification.messages;
      const { rows } = await db.query<{ segments: number | null; cost: number | null }>(
        'select segments, cost from message where id = $1',
        [message.id],
      );
      // Defaults: $0.0079 per SMS segment.
      const cost = Math.round(segments * 0.0079 * 1e6) / 1e6;
      expect(rows[0]).toEqual({ segments, cost });
      expect(message).toMatchObject({ status: 'SCHEDULED', segments, cost });
    }
    // Never handed to a provider (Twilio 21211 at send): no cost, and no segments either.
    const failed = await send(`u-seg-${randomUUID()}`, 'a'.repeat(161), '+15005550001', false);
    const id = failed.sendNotification.notification.messages[0].id;
    const settled = await waitFor(async () => {
      const { rows } = await db.query<{ status: string; segments: number | null; cost: number | null }>(
        'select status, segments, cost from message where id = $1',
        [id],
      );
      return rows[0]?.status === 'FAILED' && rows[0];
    });
    expect(settled).toEqual({ status: 'FAILED', segments: null, cost: null });
  });

  it('a four-channel send costs 0.013 exactly, not 0.013000000000000001: sums of money are kept to the micro-dollar', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: `u-${randomUUID()}`,
        type: 'adhoc',
        channels: ['SMS', 'WHATSAPP', 'EMAIL', 'PUSH'],
        to: {
          phone: '+14155552671',
          whatsapp: '+14155552672',
          email: 'four@example.com',
          deviceTokens: ['tok-4'],
        },
        content: {
          body: 'one segment',
          subject: 's',
          text: 't',
          title: 'T',
          whatsappTemplate: { contentSid: CONTENT_SID, contentVariables: { 1: 'x' } },
        },
      },
    });
    const costs = await execute<
      { notification: { cost: number; messages: { channel: string; cost: number }[] } },
      unknown
    >(stack.url, 'query ($id: ID!) { notification(id: $id) { cost messages { channel cost } } }', {
      id: sendNotification.notification.id,
    });
    const byChannel = Object.fromEntries(costs.data!.notification.messages.map((m) => [m.channel, m.cost]));
    // Defaults: $0.0079 per SMS segment, $0.005 per WhatsApp message, $0.0001 per email, push free. In floating
    // point their sum is 0.013000000000000001 in every order.
    expect(byChannel).toEqual({ SMS: 0.0079, WHATSAPP: 0.005, EMAIL: 0.0001, PUSH: 0 });
    expect(costs.data!.notification.cost).toBe(0.013);
  });

  it('scheduledAt in the future waits SCHEDULED in PostgreSQL', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: `u-${randomUUID()}`,
        type: 'adhoc',
        channels: ['SMS'],
        to: { phone: '+14155552671' },
        content: { body: 'later' },
        scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
      },
    });
    expect(sendNotification.notification.status).toBe('SCHEDULED');
    expect(sendNotification.notification.messages[0]?.status).toBe('SCHEDULED');
  });

  it('an idempotency key returns the original notification and sends nothing new', async () => {
    const input: SendNotificationInput = {
      userId: 'u-idem',
      type: 'adhoc',
      channels: ['SMS'],
      to: { phone: '+14155552671' },
      content: { body: 'once' },
      idempotencyKey: `key-${randomUUID()}`,
    };
    const first = await executeOk(stack.url, SendNotificationDocument, { input });
    const second = await executeOk(stack.url, SendNotificationDocument, { input });
    expect(second.sendNotification.notification.id).toBe(first.sendNotification.notification.id);
    const { rows } = await db.query('select count(*)::int n from notification where idempotency_key = $1', [
      input.idempotencyKey,
    ]);
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('lists notifications with cursor pagination and filters (user, status, channel, type)', async () => {
    const userId = `u-${randomUUID()}`;
    for (const [i, channel] of (['SMS', 'EMAIL', 'SMS'] as const).entries()) {
      await executeOk(stack.url, SendNotificationDocument, {
        input: {
          userId,
          type: `kind_${i}`,
          channels: [channel],
          to: { phone: '+14155552671', email: 'a@example.com' },
          content: { subject: 's', text: 't', body: 'b' },
        },
      });
    }
    const page1 = await executeOk(stack.url, NotificationsDocument, { filter: { userId }, first: 2 });
    expect(page1.notifications.edges.map((e) => e.node.type)).toEqual(['kind_2', 'kind_1']);
    expect(page1.notifications.pageInfo.hasNextPage).toBe(true);
    const page2 = await executeOk(stack.url, NotificationsDocument, {
      filter: { userId },
      first: 2,
      after: page1.notifications.pageInfo.endCursor,
    });
    expect(page2.notifications.edges.map((e) => e.node.type)).toEqual(['kind_0']);
    expect(page2.notifications.pageInfo.hasNextPage).toBe(false);
    const sms = await executeOk(stack.url, NotificationsDocument, { filter: { userId, channel: 'SMS' } });
    expect(sms.notifications.edges.map((e) => e.node.type)).toEqual(['kind_2', 'kind_0']);
    const byType = await executeOk(stack.url, NotificationsDocument, { filter: { userId, type: 'kind_1' } });
    expect(byType.notifications.edges).toHaveLength(1);
    await waitFor(async () => {
      const done = await executeOk(stack.url, NotificationsDocument, {
        filter: { userId, status: 'COMPLETED' },
      });
      return done.notifications.edges.length === 3;
    });
    const bad = await execute(stack.url, NotificationsDocument, { filter: { userId }, after: 'garbage' });
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('concurrent sends are written in one transaction, each answered with its own notification or error', async () => {
    const caller = { tenantId: 'default', subject: 'group-commit', scopes: [] };
    const sms = (userId: string, phone = '+14155552671', idempotencyKey?: string) => ({
      userId,
      type: 'adhoc',
      channels: ['SMS' as never],
      to: { phone },
      content: { body: 'group' },
      idempotencyKey,
    });
    const key = `group-${randomUUID()}`;
    // Submitted in one turn of the event loop: they queue behind the first and are written together.
    const inputs = [
      ...Array.from({ length: 17 }, (_, i) => sms(`group-${i}`)),
      sms('group-bad-1', '12'),
      sms('group-keyed', '+14155552671', key),
      sms('group-bad-2', 'not a phone'),
      sms('group-keyed', '+14155552671', key),
    ];
    const outcomes = await Promise.allSettled(
      inputs.map((input) => stack.herald.services.notifications.send(caller, input)),
    );
    const refused = outcomes.flatMap((o, i) =>
      o.status === 'rejected' ? [{ i, error: o.reason as unknown }] : [],
    );
    expect(refused.map((r) => r.i)).toEqual([17, 19]);
    for (const { error } of refused) {
      expect((error as { extensions: unknown }).extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'to.phone',
      });
    }
    const ids = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.id] : []));
    expect(ids).toHaveLength(19);
    // The two sends with one idempotency key are one notification; the others are each their own.
    expect(ids[17]).toBe(ids[18]);
    expect(new Set(ids).size).toBe(18);
    // Delivery events are never updated, so their xmin is still the id of the transaction that accepted them.
    const { rows } = await db.query<{ transactions: number; notifications: number }>(
      `select count(distinct e.xmin::text)::int transactions, count(distinct m.notification_id)::int notifications
         from delivery_event e join message m on m.id = e.message_id
        where m.notification_id = any($1) and e.status = 'QUEUED' and e.previous_status is null`,
      [ids],
    );
    expect(rows[0]).toEqual({ transactions: 1, notifications: 18 });
  });

  it('rejects an invalid template at upsertNotificationType, naming the field', async () => {
    const result = await execute(stack.url, UpsertNotificationTypeDocument, {
      input: { key: 'broken', templates: [{ channel: 'SMS', body: 'Hi {{ data.name ' }] },
    });
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.templates[0].body',
    });
  });
});
