import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendNotificationDocument } from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { expectAlive, PRODUCTION_NODE_ARGS, startStack, type TestStack } from '../support/stack';

/**
 * Allowed but large content cannot exhaust an API process running with the production heap (192 MB): neither many
 * 2 MB sends at once, nor queries asking at once for the stored content of a hundred 2 MB messages (one page of 100
 * is over the cost limit, so in the largest pages the cost limit lets through).
 */
describe('API memory under large content', () => {
  let stack: TestStack;
  let api: Awaited<ReturnType<TestStack['spawnRole']>>;
  let db: pg.Client;
  let stderr = '';

  beforeAll(async () => {
    stack = await startStack({ role: 'api' });
    api = await stack.spawnRole('api', { nodeArgs: PRODUCTION_NODE_ARGS });
    api.child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
  }, 60_000);

  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  it('60 sends of 2 MB emails at once: each is accepted or answered 503 SERVICE_UNAVAILABLE, and the API stays up', async () => {
    const content = { subject: 'Large', html: 'h'.repeat(1_000_000), text: 't'.repeat(980_000) };
    const answers = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const response = await fetch(api.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            query:
              'mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { id } } }',
            variables: {
              input: {
                userId: `big${i}`,
                type: 'adhoc',
                channels: ['EMAIL'],
                to: { email: `big${i}@example.com` },
                content,
              },
            },
          }),
        }).catch((error: Error) => ({ status: 0, json: () => Promise.resolve({ error: error.message }) }));
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      }),
    );
    expect(api.child.exitCode, `the API died:\n${stderr}`).toBeNull();
    await expectAlive(api);
    for (const answer of answers) {
      if (answer.status === 200) expect(answer.body.errors).toBeUndefined();
      else {
        expect(answer.status).toBe(503);
        expect(answer.body).toMatchObject({ errors: [{ extensions: { code: 'SERVICE_UNAVAILABLE' } }] });
      }
    }
    const accepted = answers.filter((a) => a.status === 200).length;
    expect(accepted).toBeGreaterThan(0);
    const { rows } = await db.query<{ n: number }>(
      `select count(*)::int as n from notification where user_id like 'big%'`,
    );
    expect(rows[0].n).toBe(accepted);
  }, 180_000);

  it('100 messages with 2 MB of stored content each, asked for at once in pages the cost allows: each refused as too large without reading every content, and the API stays up', async () => {
    const ids = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
          input: {
            userId: 'reader',
            type: 'adhoc',
            channels: ['SMS'],
            to: { phone: '+14155552671' },
            content: { body: `m${i}` },
          },
        });
        return sendNotification.notification.messages[0].id;
      }),
    );
    // Two megabytes of stored content per message, written directly: sending 100 such emails would take minutes.
    await db.query(
      `update message set content = jsonb_build_object('html', repeat('h', 2000000), 'text', 'short') where id = any($1)`,
      [ids],
    );
    type ContentPage = {
      notifications: { nodes: { messages: { content: { html: string } | null }[] }[] };
    };
    const contentPage = (first: number, after: string | null) =>
      `{ notifications(filter: { userId: "reader" }, first: ${first}${after ? `, after: "${after}"` : ''}) { nodes { messages { content { html } } } } }`;
    // The whole hundred in one page is refused by the cost limit before anything is read: 100 × (1 + 1 + 105 × 2).
    const whole = await execute<ContentPage, unknown>(api.url, contentPage(100, null));
    expect(whole.data ?? undefined).toBeUndefined();
    expect(whole.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      limit: 'GRAPHQL_MAX_COST',
      found: 21_200,
    });
    // So every content is asked for at once in pages the cost limit lets through (45 × 212 = 9,540 ≤ 10,000):
    // 45 + 45 + 10 notifications, each page tens of megabytes of stored content, all three concurrently.
    const cursors = await execute<{ notifications: { edges: { cursor: string }[] } }, unknown>(
      api.url,
      '{ notifications(filter: { userId: "reader" }, first: 100) { edges { cursor } } }',
    );
    expect(cursors.errors).toBeUndefined();
    const edges = cursors.data!.notifications.edges;
    expect(edges).toHaveLength(100);
    const results = await Promise.all(
      [
        [45, null],
        [45, edges[44].cursor],
        [10, edges[89].cursor],
      ].map(([first, after]) =>
        execute<ContentPage, unknown>(api.url, contentPage(first as number, after as string | null)),
      ),
    );
    expect(api.child.exitCode, `the API died:\n${stderr}`).toBeNull();
    await expectAlive(api);
    // Each refused as any response over the limit: one error naming it, no data, and the contents were never read whole.
    for (const result of results) {
      expect(result.data ?? undefined).toBeUndefined();
      expect(result.errors).toHaveLength(1);
      expect(result.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        limit: 'GRAPHQL_MAX_RESPONSE_BYTES',
        max: 8 * 1024 * 1024,
      });
      expect(result.errors?.[0]?.message).toMatch(
        /^the response would be about \d+ MB, over the limit of 8\.0 MB/,
      );
    }
    // A page that fits is answered whole.
    const fits = await execute<
      { notifications: { nodes: { messages: { content: { html: string } }[] }[] } },
      unknown
    >(
      api.url,
      '{ notifications(filter: { userId: "reader" }, first: 3) { nodes { messages { content { html } } } } }',
    );
    expect(fits.errors).toBeUndefined();
    expect(fits.data?.notifications.nodes.map((n) => n.messages[0].content.html.length)).toEqual([
      2_000_000, 2_000_000, 2_000_000,
    ]);
    await waitFor(async () => (await fetch(api.url.replace(/\/graphql$/, '/health'))).ok, 5_000, 'health');
  }, 180_000);

  it('30 concurrent reads of 7.6 MB of stored content each: each answered whole or 503 SERVICE_UNAVAILABLE with Retry-After, small queries served meanwhile, and the API stays up', async () => {
    const ids = await Promise.all(
      Array.from({ length: 2 }, async (_, i) => {
        const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
          input: {
            userId: 'bulk-reader',
            type: 'adhoc',
            channels: ['SMS'],
            to: { phone: '+14155552671' },
            content: { body: `b${i}` },
          },
        });
        return sendNotification.notification.messages[0].id;
      }),
    );
    // 3.8 MB per message, two per response: 7.6 MB, under GRAPHQL_MAX_RESPONSE_BYTES (8 MiB), as the break-it round.
    await db.query(
      `update message set content = jsonb_build_object('html', repeat('h', 1900000), 'text', repeat('t', 1900000)) where id = any($1)`,
      [ids],
    );
    const query =
      '{ notifications(filter: { userId: "bulk-reader" }, first: 2) { nodes { messages { content { html text } } } } }';
    const read = async () => {
      const response = await fetch(api.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query }),
      });
      const body = (await response.json()) as {
        data?: { notifications: { nodes: { messages: { content: { html: string; text: string } }[] }[] } };
        errors?: { extensions?: Record<string, unknown> }[];
      };
      return { status: response.status, retryAfter: response.headers.get('retry-after'), body };
    };
    const reads = Array.from({ length: 30 }, read);
    // An ordinary query, reading no content, while the large ones are in flight.
    const small = await execute<{ __typename: string }, unknown>(api.url, '{ __typename }');
    const answers = await Promise.all(reads);
    expect(api.child.exitCode, `the API died:\n${stderr}`).toBeNull();
    await expectAlive(api);
    expect(small).toEqual({ data: { __typename: 'Query' } });
    for (const answer of answers) {
      if (answer.status === 200) {
        expect(answer.body.errors).toBeUndefined();
        const lengths = answer.body.data!.notifications.nodes.map((n) => n.messages[0].content.html.length);
        expect(lengths).toEqual([1_900_000, 1_900_000]);
      } else {
        expect(answer.status).toBe(503);
        expect(answer.retryAfter).toBe('1');
        expect(answer.body).toEqual({
          errors: [
            {
              message: 'this process holds its most response content in flight; retry shortly',
              extensions: { code: 'SERVICE_UNAVAILABLE', limit: 'GRAPHQL_INFLIGHT_RESPONSE_BYTES' },
            },
          ],
        });
      }
    }
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(0);
  }, 180_000);
});
