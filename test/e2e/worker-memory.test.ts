import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendNotificationDocument, UpsertNotificationTypeDocument } from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { PRODUCTION_NODE_ARGS, startStack, type TestStack } from '../support/stack';

/** 99,000 literal characters repeated ten times: 990,000 characters, under TEMPLATE_MEMORY_LIMIT (1,000,000). */
const LARGE_FIELD = `{% for i in (1..10) %}${'x'.repeat(99_000)}{% endfor %}`;
const SENDS = 40;
/** A backlog three times as long, of explicit content (read back from PostgreSQL at dispatch). */
const BACKLOG = 120;

/**
 * Allowed but large content cannot exhaust a worker: a type whose email html and text each render about 990 KB,
 * sent many times at once, to one worker running with the production heap (192 MB) and the default
 * DISPATCH_CONTENT_BUDGET_CHARS. Without the budget (and with content read by every claim and published with every
 * status change) the worker died of heap exhaustion after about 30 of them.
 */
describe('worker memory under large rendered content', () => {
  let stack: TestStack;
  let worker: Awaited<ReturnType<TestStack['spawnRole']>>;
  let db: pg.Client;
  let died = false;
  let stderr = '';

  beforeAll(async () => {
    stack = await startStack({ role: 'api' });
    worker = await stack.spawnRole('worker', { nodeArgs: PRODUCTION_NODE_ARGS });
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    worker.child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
    worker.child.once('exit', () => (died = true));
  }, 60_000);

  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  /** Sends `count` emails, ten at a time, and waits until every one is SENT (or the worker dies). */
  async function sendAll(count: number, input: (i: number) => Record<string, unknown>): Promise<string[]> {
    const ids: string[] = [];
    for (let start = 0; start < count; start += 10) {
      const batch = Array.from({ length: Math.min(10, count - start) }, (_, j) => start + j);
      ids.push(
        ...(await Promise.all(
          batch.map(async (i) => {
            const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
              input: input(i) as never,
            });
            return sendNotification.notification.messages[0].id;
          }),
        )),
      );
    }
    await waitFor(
      async () => {
        if (died) return true;
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM message WHERE id = ANY($1) AND status = 'SENT'`,
          [ids],
        );
        return rows[0].n === count;
      },
      300_000,
      `all ${count} large emails SENT`,
    );
    expect(died, `the worker died:\n${stderr}`).toBe(false);
    return ids;
  }

  it(`sends ${SENDS} template emails of about 2 MB each, and the worker stays up`, async () => {
    await executeOk(stack.url, UpsertNotificationTypeDocument, {
      input: {
        key: 'large_email',
        templates: [{ channel: 'EMAIL', subject: 'Large', html: LARGE_FIELD, text: LARGE_FIELD }],
      },
    });
    const ids = await sendAll(SENDS, (i) => ({
      userId: `u${i}`,
      type: 'large_email',
      channels: ['EMAIL'],
      to: { email: `u${i}@example.com` },
    }));
    expect(stack.emulator.emulator.recorded('sendgrid')).toHaveLength(SENDS);
    // The content is stored whole and still readable through the API (the column is read only when asked for).
    const read = await execute<{ message: { status: string; content: Record<string, string> } }, unknown>(
      stack.url,
      'query ($id: ID!) { message(id: $id) { status content { subject text html } } }',
      { id: ids[0] },
    );
    expect(read.errors).toBeUndefined();
    expect(read.data?.message.status).toBe('SENT');
    expect(read.data?.message.content.subject).toBe('Large');
    expect(read.data?.message.content.html).toHaveLength(990_000);
    expect(read.data?.message.content.text).toHaveLength(990_000);
  }, 400_000);

  it(`drains a backlog of ${BACKLOG} emails with 2 MB of explicit content each, and the worker stays up`, async () => {
    const content = { subject: 'Explicit', html: 'h'.repeat(1_000_000), text: 't'.repeat(980_000) };
    await sendAll(BACKLOG, (i) => ({
      userId: `e${i}`,
      type: 'adhoc',
      channels: ['EMAIL'],
      to: { email: `e${i}@example.com` },
      content,
    }));
    expect(stack.emulator.emulator.recorded('sendgrid')).toHaveLength(SENDS + BACKLOG);
  }, 400_000);
});
