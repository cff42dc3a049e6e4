import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CancelNotificationDocument,
  MessageDocument,
  SendNotificationDocument,
  type SendNotificationInput,
} from '../support/generated/graphql';
import { ManualClock } from '../support/clock';
import { execute, executeOk, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const START = new Date('2030-03-01T12:00:00Z');

describe('schedule, cancel and idempotency', () => {
  const clock = new ManualClock(START);
  let stack: TestStack;
  let db: pg.Client;
  beforeAll(async () => {
    stack = await startStack({ clock });
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
  });
  beforeEach(() => {
    clock.set(START);
    stack.emulator.emulator.reset();
  });
  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  const input = (extra: Partial<SendNotificationInput> = {}): SendNotificationInput => ({
    userId: `u-${randomUUID()}`,
    type: 'adhoc',
    channels: ['SMS'],
    to: { phone: '+14155552671' },
    content: { body: 'hello' },
    ...extra,
  });
  const message = async (id: string) => (await executeOk(stack.url, MessageDocument, { id })).message!;

  it('a scheduled send waits in PostgreSQL and fires at its time', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: input({ scheduledAt: '2030-03-01T13:00:00Z' }),
    });
    expect(sendNotification.notification.status).toBe('SCHEDULED');
    const id = sendNotification.notification.messages[0].id;
    await new Promise((r) => setTimeout(r, 300));
    expect((await message(id)).status).toBe('SCHEDULED');
    expect(stack.emulator.emulator.recorded('twilio')).toHaveLength(0);
    clock.set('2030-03-01T13:00:00Z');
    await waitFor(async () => (await message(id)).status === 'SENT');
    expect(stack.emulator.emulator.recorded('twilio')).toHaveLength(1);
  });

  it('cancel before it is due: CANCELLED and no provider request, even when its time comes', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: input({ scheduledAt: '2030-03-01T12:30:00Z' }),
    });
    const { cancelNotification } = await executeOk(stack.url, CancelNotificationDocument, {
      id: sendNotification.notification.id,
    });
    expect(cancelNotification).toMatchObject({
      status: 'CANCELLED',
      // Never handed to a provider: no cost (README "Cost").
      messages: [{ status: 'CANCELLED', error: { code: 'cancelled' }, cost: null, costSource: null }],
    });
    clock.set('2030-03-01T12:31:00Z');
    await new Promise((r) => setTimeout(r, 400));
    expect((await message(cancelNotification.messages[0].id)).status).toBe('CANCELLED');
    expect(stack.emulator.emulator.recorded('twilio')).toHaveLength(0);
  });

  it('cancel after sending: NOT_CANCELLABLE names the messages already handed to a provider', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, { input: input() });
    const id = sendNotification.notification.messages[0].id;
    await waitFor(async () => (await message(id)).status === 'SENT');
    const result = await execute(stack.url, CancelNotificationDocument, {
      id: sendNotification.notification.id,
    });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_CANCELLABLE', messageIds: [id] });
    expect(result.errors?.[0]?.message).toContain(id);
    const missing = await execute(stack.url, CancelNotificationDocument, { id: randomUUID() });
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('idempotency: a replay returns the same notification with one provider request; a different input is CONFLICT', async () => {
    const first = input({ idempotencyKey: `k-${randomUUID()}` });
    const a = await executeOk(stack.url, SendNotificationDocument, { input: first });
    const b = await executeOk(stack.url, SendNotificationDocument, { input: { ...first } });
    expect(b.sendNotification.notification.id).toBe(a.sendNotification.notification.id);
    await waitFor(
      async () => (await message(a.sendNotification.notification.messages[0].id)).status === 'SENT',
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(stack.emulator.emulator.recorded('twilio')).toHaveLength(1);

    const conflict = await execute(stack.url, SendNotificationDocument, {
      input: { ...first, content: { body: 'something else' } },
    });
    expect(conflict.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', field: 'idempotencyKey' });
  });

  it('10 concurrent duplicates make one notification', async () => {
    const same = input({ idempotencyKey: `k-${randomUUID()}` });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => executeOk(stack.url, SendNotificationDocument, { input: same })),
    );
    expect(new Set(results.map((r) => r.sendNotification.notification.id)).size).toBe(1);
    const { rows } = await db.query('select count(*)::int n from notification where idempotency_key = $1', [
      same.idempotencyKey,
    ]);
    expect(rows[0]).toEqual({ n: 1 });
  });
});
