import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CancelNotificationDocument,
  MessageDocument,
  SendNotificationDocument,
  SendNotificationsDocument,
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

  it('a batch repeating a key another transaction is writing answers every repeat with the winner', async () => {
    // A CI run saw 10 concurrent duplicates answered with 2 ids: the group staged one notification, its repeats
    // replayed it, the commit lost the unique race, and only the first holder learnt the winner. Made deterministic
    // here: another transaction holds the key uncommitted, so the batch's insert waits on the unique index and loses.
    const same = input({ idempotencyKey: `k-${randomUUID()}` });
    const winner = randomUUID();
    const holder = new pg.Client({ connectionString: stack.env.databaseUrl });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query(
        `insert into notification (id, tenant_id, user_id, type, channels, status, idempotency_key, created_at, updated_at)
         values ($1, 'default', $2, 'adhoc', '["SMS"]', 'COMPLETED', $3, now(), now())`,
        [winner, same.userId, same.idempotencyKey],
      );
      const batch = executeOk(stack.url, SendNotificationsDocument, {
        inputs: [same, { ...same }, { ...same }],
      });
      // The batch's insert is waiting on the holder's row lock before the holder commits.
      await waitFor(async () => {
        const { rows } = await db.query<{ n: number }>(
          `select count(*)::int n from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%insert%notification%'`,
        );
        return rows[0].n > 0;
      });
      await holder.query('commit');
      const { sendNotifications } = await batch;
      expect(sendNotifications.results.map((r) => [r.notification?.id, r.error])).toEqual([
        [winner, null],
        [winner, null],
        [winner, null],
      ]);
    } finally {
      await holder.end();
    }
    const { rows } = await db.query<{ id: string }>(
      'select id from notification where idempotency_key = $1',
      [same.idempotencyKey],
    );
    expect(rows).toEqual([{ id: winner }]);
  });
});
