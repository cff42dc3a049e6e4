import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendNotificationsDocument, type SendNotificationInput } from '../support/generated/graphql';
import { execute, executeOk } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

/** API role only: the batch is accepted and enqueued; no worker sends it. */
describe('sendNotifications (batch)', () => {
  let stack: TestStack;
  let db: pg.Client;
  const inserts = new Map<string, number>();

  beforeAll(async () => {
    stack = await startStack({ role: 'api' });
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    // Count the INSERT statements per table as knex, under every query of ours, reports them (its 'query' event).
    stack.herald.services.deps.orm.em
      .getConnection()
      .getKnex()
      .on('query', (query: { sql?: string }) => {
        const table = /^insert into "(\w+)"/i.exec(query.sql ?? '')?.[1];
        if (table) inserts.set(table, (inserts.get(table) ?? 0) + 1);
      });
  });
  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  it('1,000 inputs with 3 invalid: 997 accepted with multi-row inserts and enqueued, 3 errors with their indexes', async () => {
    const batchUser = `u-${randomUUID()}`;
    const inputs: SendNotificationInput[] = Array.from({ length: 1_000 }, (_, i) => ({
      userId: batchUser,
      type: 'statement_ready',
      channels: ['SMS'],
      to: { phone: '+14155552671' },
      content: { body: `statement ${i}` },
    }));
    inputs[10] = { ...inputs[10], to: { phone: '+1 555' } };
    inputs[500] = { ...inputs[500], to: { email: 'not-an-email' } };
    inputs[999] = { ...inputs[999], content: null };
    inserts.clear();

    const { sendNotifications } = await executeOk(stack.url, SendNotificationsDocument, { inputs });
    // 997 one-segment SMS at the default $0.0079 per segment.
    expect(sendNotifications.summary).toEqual({
      total: 1_000,
      accepted: 997,
      failed: 3,
      estimatedCost: 7.8763,
    });
    expect(sendNotifications.results).toHaveLength(1_000);
    expect(sendNotifications.results.map((r) => r.index)).toEqual(inputs.map((_, i) => i));
    const errors = sendNotifications.results.filter((r) => r.error);
    expect(errors.map((r) => [r.index, r.error?.code])).toEqual([
      [10, 'BAD_USER_INPUT'],
      [500, 'BAD_USER_INPUT'],
      [999, 'BAD_USER_INPUT'],
    ]);
    expect(errors[0]?.error?.message).toContain('to.phone');
    expect(errors[1]?.error?.message).toContain('to.email');
    expect(errors[2]?.error?.message).toContain('content');

    const { rows } = await db.query<{ n: number }>(
      'select count(*)::int n from notification where user_id = $1',
      [batchUser],
    );
    expect(rows[0]?.n).toBe(997);
    expect(inserts.get('notification')).toBe(1);
    expect(inserts.get('message')).toBe(1);
    expect(inserts.get('delivery_event')).toBe(1);
    const health = await stack.herald.services.deps.queues.lanes.sms.checkHealth();
    expect(health.waiting).toBeGreaterThanOrEqual(997);
  });

  it('a repeated idempotency key inside a batch makes one notification; a different input under it is CONFLICT', async () => {
    const key = `k-${randomUUID()}`;
    const base: SendNotificationInput = {
      userId: 'u-dup',
      type: 'x',
      channels: ['SMS'],
      to: { phone: '+14155552671' },
      content: { body: 'a' },
      idempotencyKey: key,
    };
    const { sendNotifications } = await executeOk(stack.url, SendNotificationsDocument, {
      inputs: [base, { ...base }, { ...base, content: { body: 'b' } }],
    });
    const [first, second, third] = sendNotifications.results;
    expect(second?.notification?.id).toBe(first?.notification?.id);
    expect(third?.error?.code).toBe('CONFLICT');
    expect(sendNotifications.summary).toMatchObject({
      total: 3,
      accepted: 2,
      failed: 1,
      estimatedCost: 0.0079,
    });
  });

  it('more than 1,000 inputs is refused as a whole', async () => {
    const inputs = Array.from({ length: 1_001 }, () => ({
      userId: 'u',
      type: 'x',
      channels: ['SMS' as const],
      to: { phone: '+14155552671' },
      content: { body: 'a' },
    }));
    const result = await execute(stack.url, SendNotificationsDocument, { inputs });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'inputs' });
  });
});
