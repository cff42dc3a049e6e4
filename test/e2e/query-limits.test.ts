import { randomUUID } from 'node:crypto';
import { getIntrospectionQuery } from 'graphql';
import type { Client } from 'graphql-ws';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendNotificationDocument } from '../support/generated/graphql';
import {
  execute,
  executeOk,
  overWebsocket,
  waitFor,
  wsClient,
  type GraphQLResponse,
} from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const aliased = (count: number, selection: (i: number) => string) =>
  `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${selection(i)}`).join(' ')} }`;

/** The example: 100 aliases of a full page with every message and its events. */
const ALIAS_BOMB = aliased(
  100,
  () => 'notifications(first: 100) { nodes { id messages { id events { id } } } }',
);
const TWENTY_ALIASES = aliased(
  20,
  () => 'notifications(first: 20) { nodes { id messages { id events { id } } } }',
);
/** Few aliases, each a full page of messages and events: cheap to write, expensive to run. */
const EXPENSIVE = aliased(
  3,
  () => 'notifications(first: 100) { nodes { id messages { id events { id } } } }',
);
/** The schema has no cycles, so depth comes from introspection's type references. */
const DEEP = `{ __type(name: "Message") { fields { type ${'{ ofType '.repeat(12)}{ name }${' }'.repeat(12)} } } }`;
const MANY_TOKENS = `{ ${'__typename '.repeat(10_000)} }`;

describe('query limits and GraphQL edge errors (auth off)', () => {
  let stack: TestStack;
  let base: string;
  let ws: Client;

  beforeAll(async () => {
    stack = await startStack();
    base = stack.url.replace(/\/graphql$/, '');
    base = stack.url.replace(/\/graphql$/, '');
    ws = wsClient(stack.url);
  });
  afterAll(async () => {
    await ws?.dispose();
    await stack?.close();
  });

  const health = async () => (await fetch(`${base}/health`)).status;
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  describe.each([
    // ~2,200 tokens: refused while parsing, before the alias rule would see it.
    ['the 100-alias bomb', ALIAS_BOMB, 'GRAPHQL_MAX_TOKENS', 'token limit of 2000'],
    [
      '20 aliases of notifications, messages and events',
      TWENTY_ALIASES,
      'GRAPHQL_MAX_ALIASES',
      'Aliases limit of 15',
    ],
    ['three full pages with messages and events', EXPENSIVE, 'GRAPHQL_MAX_COST', 'cost limit of 10000'],
    ['deep nesting', DEEP, 'GRAPHQL_MAX_DEPTH', 'depth limit of 10'],
    ['10,000 tokens', MANY_TOKENS, 'GRAPHQL_MAX_TOKENS', 'token limit of 2000'],
  ])('%s', (_name, query, limit, message) => {
    it('is refused over HTTP with BAD_USER_INPUT naming the limit, and /health answers right after', async () => {
      const response = await post(JSON.stringify({ query }));
      const body = (await response.json()) as GraphQLResponse<unknown>;
      expect(response.status).toBe(400);
      expect(body.data ?? undefined).toBeUndefined();
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit });
      expect(body.errors![0].message).toContain(message);
      expect(body.errors![0].message).toContain(limit);
      expect(await health()).toBe(200);
    });

    it('is refused over graphql-ws the same way, and the process keeps serving', async () => {
      const result = await overWebsocket(ws, query);
      expect(result.data ?? undefined).toBeUndefined();
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit });
      expect(result.errors?.[0]?.message).toContain(message);
      expect(await health()).toBe(200);
    });
  });

  it.each(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND'])(
    'answers an unknown route with JSON 404 NOT_FOUND for %s, not Express HTML',
    async (method) => {
      for (const path of ['/nope', '/webhooks/nope', `/x${'a'.repeat(2_000)}`]) {
        const response = await fetch(`${base}${path}`, { method });
        expect(response.status).toBe(404);
        expect(response.headers.get('content-type')).toMatch(/^application\/json/);
        const body = (await response.json()) as GraphQLResponse<unknown>;
        expect(body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
        expect(body.errors?.[0]?.message).not.toContain('aaaa');
      }
      const head = await fetch(`${base}/nope`, { method: 'HEAD' });
      expect(head.status).toBe(404);
      expect(await health()).toBe(200);
    },
  );

  it('lets legitimate queries through: a few aliases, introspection, the gateway’s _service and _entities', async () => {
    const legit = `{
      recent: notifications(first: 10) { nodes { id messages { id status } } }
      one: notifications(first: 1) { nodes { messages { events { status } } } }
      sms: notifications(first: 5, filter: { channel: SMS }) { edges { cursor } pageInfo { hasNextPage } }
      types: notificationTypes { key }
      providers { id healthy }
    }`;
    for (const query of [
      legit,
      getIntrospectionQuery(),
      '{ _service { sdl } }',
      `{ _entities(representations: [${Array.from({ length: 50 }, () => `{ __typename: "User", id: "${randomUUID()}" }`).join(',')}]) { ... on User { contact { email } devices { token } } } }`,
    ]) {
      const overHttp = await execute(stack.url, query);
      expect(overHttp.errors).toBeUndefined();
      const overWs = await overWebsocket(ws, query);
      expect(overWs.errors).toBeUndefined();
    }
  });

  it('reads the events of every message of a page in two SQL statements', async () => {
    const userId = `u-${randomUUID()}`;
    // One push to six devices: six messages, whose events one page of one notification reads (a page of several
    // notifications with every message and event is over the cost limit: 105 messages × 50 events each at worst).
    await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId,
        type: 'adhoc',
        channels: ['PUSH'],
        to: { deviceTokens: Array.from({ length: 6 }, (_, i) => `token-${i}-${randomUUID()}`) },
        content: { title: 'hello', body: 'six devices' },
      },
    });
    const page = `{ notifications(first: 1, filter: { userId: "${userId}" }) { nodes { id messages { id events { status } } } } }`;
    type Page = { notifications: { nodes: { messages: { events: { status: string }[] }[] }[] } };
    await waitFor(
      async () => {
        const result = await execute<Page, unknown>(stack.url, page);
        const messages = result.data?.notifications.nodes.flatMap((n) => n.messages) ?? [];
        return messages.length === 6 && messages.every((m) => m.events.some((e) => e.status === 'SENT'));
      },
      30_000,
      'six sent messages',
    );

    // Observes the SQL the in-process Herald sends through the pg driver (a probe, not a stand-in).
    const statements: string[] = [];
    const client = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const original = client.query;
    client.query = function (this: unknown, ...args: unknown[]) {
      const config = args[0];
      const text = typeof config === 'string' ? config : (config as { text?: string } | undefined)?.text;
      if (text) statements.push(text);
      return original.apply(this, args);
    };
    let result: GraphQLResponse<Page>;
    try {
      result = await execute<Page, unknown>(stack.url, page);
    } finally {
      client.query = original;
    }
    expect(result.errors).toBeUndefined();
    expect(result.data?.notifications.nodes).toHaveLength(1);
    expect(result.data?.notifications.nodes[0].messages).toHaveLength(6);
    const eventReads = statements.filter(
      (sql) => /^select\b/i.test(sql) && /from "delivery_event"/i.test(sql),
    );
    // Whatever the number of messages: the newest ids per message (a window), then those rows.
    expect(eventReads).toHaveLength(2);
  });

  it.each([
    ['not base64 of anything', 'garbage'],
    ['base64 of JSON', Buffer.from('{"createdAt":"2024-01-01","id":1}').toString('base64url')],
    [
      'our shape with an id that is not a UUID',
      Buffer.from('2024-01-01T00:00:00.000Z|garbage').toString('base64url'),
    ],
    [
      'our shape with an impossible date',
      Buffer.from(`2024-13-45T00:00:00.000Z|${randomUUID()}`).toString('base64url'),
    ],
    [
      'a date PostgreSQL cannot hold',
      Buffer.from(`+275760-09-13T00:00:00.000Z|${randomUUID()}`).toString('base64url'),
    ],
  ])('answers a forged cursor (%s) with BAD_USER_INPUT naming after', async (_name, after) => {
    const result = await execute(
      stack.url,
      `query ($after: String) { notifications(after: $after) { nodes { id } } }`,
      {
        after,
      },
    );
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.extensions?.field).toBe('after');
    expect(result.errors?.[0]?.message).toContain('after');
  });

  it('answers a subscription sent over HTTP with BAD_USER_INPUT pointing at graphql-ws', async () => {
    const response = await post(
      JSON.stringify({ query: 'subscription { messageStatusChanged { status } }' }),
    );
    const body = (await response.json()) as GraphQLResponse<unknown>;
    expect(response.status).toBe(400);
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(body.errors?.[0]?.message).toContain('graphql-ws');
  });

  it('answers an operationName that names no operation with BAD_USER_INPUT, over HTTP and websockets', async () => {
    for (const [query, operationName, message] of [
      ['{ __typename }', 'Foo', 'Unknown operation named "Foo".'],
      ['query A { __typename } query B { __typename }', undefined, 'Must provide operation name'],
    ] as const) {
      const response = await post(JSON.stringify({ query, operationName }));
      const body = (await response.json()) as GraphQLResponse<unknown>;
      expect(response.status, query).toBe(400);
      expect(body.errors?.[0]?.extensions?.code, query).toBe('BAD_USER_INPUT');
      expect(body.errors?.[0]?.message, query).toContain(message);
    }
    // Over graphql-ws the refusal is an error message; the socket stays open for the next operation.
    const refused = await new Promise<unknown>((resolve) => {
      ws.subscribe(
        { query: '{ __typename }', operationName: 'Foo' },
        { next: () => undefined, error: resolve, complete: () => resolve('completed') },
      );
    });
    expect(JSON.stringify(refused)).toContain('Unknown operation named');
    expect(await overWebsocket(ws, '{ __typename }')).toEqual({ data: { __typename: 'Query' } });
  });

  describe('malformed and oversized bodies answer JSON, never a stack or a path', () => {
    const expectClean = (text: string) => {
      expect(text).not.toContain('/work');
      expect(text).not.toContain('node_modules');
      expect(text).not.toMatch(/\bat \S+ \(/);
      expect(text).not.toMatch(/<html|<pre/i);
    };

    it.each([
      ['/graphql', '{"query": "{ __typename }"'],
      ['/sandbox/__emulator/faults', '{"vendor": '],
    ])('malformed JSON to %s → 400 BAD_REQUEST', async (path, body) => {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      const text = await response.text();
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/application\/json/);
      expect(JSON.parse(text)).toEqual({
        errors: [{ message: expect.any(String) as string, extensions: { code: 'BAD_REQUEST' } }],
      });
      expectClean(text);
      expect(await health()).toBe(200);
    });

    it('a body over 2mb to /graphql → 413 JSON', async () => {
      const response = await post(
        JSON.stringify({ query: '{ __typename }', variables: { x: 'x'.repeat(3_000_000) } }),
      );
      const text = await response.text();
      expect(response.status).toBe(413);
      expect(JSON.parse(text)).toMatchObject({ errors: [{ extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
      expectClean(text);
    });
  });
});
