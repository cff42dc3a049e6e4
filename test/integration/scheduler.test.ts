import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../support/clock';
import {
  MessageDocument,
  NotificationDocument,
  SendNotificationDocument,
} from '../support/generated/graphql';
import { executeOk } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

describe('scheduler (injected clock; API role, so only the test ticks it)', () => {
  const clock = new ManualClock();
  let stack: TestStack;
  let db: pg.Client;
  beforeAll(async () => {
    stack = await startStack({
      role: 'api',
      clock,
      extraEnv: { DISPATCH_MAX_ATTEMPTS: '2', DISPATCH_LEASE_MS: '60000' },
    });
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  const message = async (id: string) => (await executeOk(stack.url, MessageDocument, { id })).message!;

  it('keeps a scheduled message in PostgreSQL until its due time, then releases it to the queue', async () => {
    const due = new Date(clock.now().getTime() + 3_600_000);
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: 'u-s',
        type: 'adhoc',
        channels: ['SMS'],
        to: { phone: '+14155552671' },
        content: { body: 'b' },
        scheduledAt: due.toISOString(),
      },
    });
    const id = sendNotification.notification.messages[0].id;
    expect(await stack.herald.services.scheduler.tick()).toEqual({
      released: 0,
      expired: 0,
      requeued: 0,
      events: 0,
      prices: 0,
      purgedConfigs: 0,
    });
    expect((await message(id)).status).toBe('SCHEDULED');

    clock.advance(3_600_000);
    expect((await stack.herald.services.scheduler.tick()).released).toBe(1);
    const released = await message(id);
    expect(released.status).toBe('QUEUED');
    expect(released.queuedAt).toBe(clock.now().toISOString());
    const { notification } = await executeOk(stack.url, NotificationDocument, {
      id: sendNotification.notification.id,
    });
    expect(notification?.status).toBe('PROCESSING');
  });

  it('an expired lease makes the message claimable again; past the attempt bound it ends FAILED (MAX_ATTEMPTS)', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: 'u-l',
        type: 'adhoc',
        channels: ['SMS'],
        to: { phone: '+14155552671' },
        content: { body: 'b' },
      },
    });
    const id = sendNotification.notification.messages[0].id;
    // A worker claimed it and died: SENDING with attempt 1 under a lease.
    const crash = (attempt: number) =>
      db.query(`update message set status = 'SENDING', attempt = $2, lease_until = $3 where id = $1`, [
        id,
        attempt,
        new Date(clock.now().getTime() + 60_000),
      ]);
    await crash(1);
    expect((await stack.herald.services.scheduler.tick()).expired).toBe(0);
    clock.advance(60_001);
    expect((await stack.herald.services.scheduler.tick()).expired).toBe(1);
    expect(await message(id)).toMatchObject({ status: 'QUEUED', attempt: 1 });

    await crash(2);
    clock.advance(60_001);
    await stack.herald.services.scheduler.tick();
    expect(await message(id)).toMatchObject({
      status: 'FAILED',
      attempt: 2,
      error: { code: 'MAX_ATTEMPTS' },
    });
  });

  it('a QUEUED row whose job vanished is enqueued again after REQUEUE_AFTER_MS', async () => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: 'u-q',
        type: 'adhoc',
        channels: ['EMAIL'],
        to: { email: 'q@example.com' },
        content: { subject: 's', text: 't' },
      },
    });
    const id = sendNotification.notification.messages[0].id;
    const queue = stack.herald.services.deps.queues.lanes.email;
    await queue.removeJob(`msg:${id}:1`);
    expect(await queue.getJob(`msg:${id}:1`)).toBeNull();
    clock.advance(stack.config.dispatch.requeueAfterMs + 1);
    expect((await stack.herald.services.scheduler.tick()).requeued).toBeGreaterThanOrEqual(1);
    expect((await queue.getJob(`msg:${id}:1`))?.data).toEqual({
      messageId: id,
      tenantId: 'default',
      attempt: 1,
    });
  });
});
