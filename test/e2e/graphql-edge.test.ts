import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { overWebsocket, waitFor, wsClient, type GraphQLResponse } from '../support/graphql';
import { expectAlive, PRODUCTION_NODE_ARGS, startStack, type TestStack } from '../support/stack';

const SECRET = 'graphql-edge-test-secret-long-enough-hs256';

let probe = 0;
function token(scope: string): Promise<string> {
  probe += 1;
  return new SignJWT({ tenant: 'acme', scope })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(`edge-probe-${probe}`)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));
}

const NOTIFICATIONS = 12;
/** Within the accept caps (1 MB each for text and html): ~900 KB of content per message. */
const TEXT = 't'.repeat(450_000);
const HTML = `<p>${'h'.repeat(450_000)}</p>`;
/**
 * `count` aliases of a page of `first` notifications with their contents. Each notification costs 212 (itself, its
 * node and up to 105 messages with their content), so count × first stays at most 47 to pass the cost limit (10,000)
 * and reach the response limit this file is about.
 */
const aliases = (count: number, first: number) =>
  `{ ${Array.from(
    { length: count },
    (_, i) => `a${i}: notifications(first: ${first}) { nodes { messages { content { body text html } } } }`,
  ).join(' ')} }`;

/**
 * The GraphQL edge against a Herald running as its own OS process with the production heap flags (192 MB), auth
 * on: one websocket frame, a response built from large strings, malformed `_entities` representations and
 * Apollo's own persisted-query refusals each get a clear answer, and the process stays up.
 */
describe('GraphQL edge: websocket frames, response size, _entities, Apollo request errors', () => {
  let stack: TestStack;
  let herald: { url: string; child: ChildProcess };
  let full: string;

  beforeAll(async () => {
    stack = await startStack({ role: 'api', extraEnv: { JWT_SECRET: SECRET } });
    // The in-process Herald only serves an API; the child (API and worker, production heap) sends every message.
    herald = await stack.spawnRole('all', { nodeArgs: PRODUCTION_NODE_ARGS });
    full = await token('admin service');
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  const post = (body: unknown, bearer = full) =>
    fetch(herald.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify(body),
    });

  it('closes a websocket with 1009 on a 10 MB frame sent before authentication, and stays up', async () => {
    const socket = new WebSocket(herald.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const outcome = new Promise<string>((resolve) => {
      socket.once('close', (code) => resolve(`closed ${code}`));
      // Before the fix the frame is read whole and answered (connection refused as unauthenticated: 4403).
      socket.once('message', (data: Buffer) => resolve(`answered ${data.toString().slice(0, 80)}`));
    });
    socket.send(
      JSON.stringify({ type: 'connection_init', payload: { padding: 'x'.repeat(10 * 1024 * 1024) } }),
    );
    expect(await outcome).toBe('closed 1009');
    await expectAlive(herald);
  });

  describe('_entities with malformed representations', () => {
    const representations: [string, unknown, string][] = [
      ['an unknown type', { __typename: 'Nope', id: 'x' }, 'unknown entity type "Nope"'],
      ['no __typename', { id: 'x' }, '__typename: must be a string naming an entity type'],
      ['a string', 'str', 'must be an object with "__typename"'],
      ['a type that is no entity', { __typename: 'ContactInfo' }, 'unknown entity type "ContactInfo"'],
      ['Query', { __typename: 'Query' }, 'unknown entity type "Query"'],
      ['__Schema', { __typename: '__Schema' }, 'unknown entity type "__Schema"'],
      ['__typename as a list', { __typename: ['User'] }, '__typename: must be a string'],
      ['a missing key field', { __typename: 'User' }, 'missing key field "id" of User'],
      ['a key field of the wrong type', { __typename: 'Message', id: 7 }, 'must be a non-empty string (ID)'],
      ['a number', 7, 'must be an object'],
      ['a list', [{ __typename: 'User', id: 'x' }], 'must be an object'],
    ];
    const query = 'query ($r: [_Any!]!) { _entities(representations: $r) { __typename } }';

    it.each([
      ['a full token', 'admin'],
      ['scope ""', ''],
    ])('answers BAD_USER_INPUT naming representations[i] (%s)', async (_label, scope) => {
      const bearer = await token(scope);
      for (const [label, representation, problem] of representations) {
        const response = await post(
          { query, variables: { r: [{ __typename: 'User', id: 'u-1' }, representation] } },
          bearer,
        );
        const body = (await response.json()) as GraphQLResponse<{ _entities: unknown[] }>;
        expect(body.errors, label).toHaveLength(1);
        expect(body.errors?.[0]?.extensions, label).toMatchObject({
          code: 'BAD_USER_INPUT',
          field: 'representations[1]',
        });
        expect(body.errors?.[0]?.message, label).toContain(problem);
        expect(body.errors?.[0]?.message, label).toMatch(/^representations\[1\]/);
        // The well-formed neighbour is still resolved.
        expect(body.data?._entities[0], label).toEqual({ __typename: 'User' });
        expect(body.data?._entities[1], label).toBeNull();
      }
      await expectAlive(herald);
    });
  });

  describe("Apollo Server's own refusals of a request", () => {
    const query = '{ providers { id } }';
    const sha = createHash('sha256').update(query).digest('hex');
    const requests: [string, unknown, string][] = [
      [
        'persisted query version 2',
        { persistedQuery: { version: 2, sha256Hash: 'abc' } },
        'Unsupported persisted query version',
      ],
      [
        'a hash that does not match the query',
        { persistedQuery: { version: 1, sha256Hash: 'abc' } },
        'provided sha does not match query',
      ],
      ['no hash', { persistedQuery: { version: 1 } }, 'provided sha does not match query'],
      ['persistedQuery not an object', { persistedQuery: 'x' }, 'Unsupported persisted query version'],
      ['extensions not an object', 'x', '`extensions` in a POST body'],
    ];

    it.each(requests)(
      '%s answers BAD_REQUEST with its message, never INTERNAL_SERVER_ERROR',
      async (_l, x, msg) => {
        const response = await post({ query, extensions: x });
        const body = (await response.json()) as GraphQLResponse<unknown>;
        expect(response.status).toBe(400);
        expect(body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_REQUEST']);
        expect(body.errors?.[0]?.message).toContain(msg);
      },
    );

    it('a matching hash is served', async () => {
      const response = await post({ query, extensions: { persistedQuery: { version: 1, sha256Hash: sha } } });
      const body = (await response.json()) as GraphQLResponse<unknown>;
      expect(body.errors).toBeUndefined();
      await expectAlive(herald);
    });
  });

  describe('a response built from large strings', () => {
    beforeAll(async () => {
      // Sent now: a message's content is rendered (and stored) when it is dispatched.
      for (let i = 0; i < NOTIFICATIONS; i += 1) {
        const response = await post({
          query: `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { id } } }`,
          variables: {
            input: {
              userId: `big-${i}`,
              type: 'adhoc',
              channels: ['EMAIL'],
              to: { email: `big-${i}@example.com` },
              content: { subject: 'big', text: TEXT, html: HTML },
            },
          },
        });
        const result = (await response.json()) as GraphQLResponse<unknown>;
        expect(result.errors).toBeUndefined();
      }
      await waitFor(async () => {
        const response = await post({
          // Status only: the contents of all twelve together (10.8 MB) are more than one response may read.
          query: '{ notifications(first: 40) { nodes { messages { status } } } }',
        });
        const { data } = (await response.json()) as GraphQLResponse<{
          notifications: { nodes: { messages: { status: string }[] }[] };
        }>;
        const messages = data?.notifications.nodes.flatMap((n) => n.messages) ?? [];
        // A message's content is stored when its SENT is recorded.
        return (
          messages.length === NOTIFICATIONS &&
          messages.every((m) => m.status !== 'QUEUED' && m.status !== 'SENDING')
        );
      }, 60_000);
    }, 90_000);

    it('refuses 4 aliases over graphql-ws the same way; the socket goes on', async () => {
      const client = wsClient(herald.url, `Bearer ${full}`);
      try {
        const result = await overWebsocket(client, aliases(4, 11));
        expect(result.data ?? undefined).toBeUndefined();
        expect(result.errors?.[0]?.extensions).toMatchObject({
          code: 'BAD_USER_INPUT',
          limit: 'GRAPHQL_MAX_RESPONSE_BYTES',
        });
        // A small query on the same socket still works.
        const small = await overWebsocket(client, '{ notifications(first: 2) { nodes { id } } }');
        expect(small.errors).toBeUndefined();
      } finally {
        await client.dispose();
      }
      await expectAlive(herald);
    }, 60_000);

    it('answers a small query, and one large message under the limit', async () => {
      const small = (await (await post({ query: aliases(1, 5) })).json()) as GraphQLResponse<{
        a0: { nodes: { messages: { content: { text: string } }[] }[] };
      }>;
      expect(small.errors).toBeUndefined();
      expect(small.data?.a0.nodes).toHaveLength(5);
      expect(small.data?.a0.nodes[0]?.messages[0]?.content.text).toHaveLength(TEXT.length);
      await expectAlive(herald);
    });

    it('refuses 15 aliases over ~900 KB contents (3 at once) with BAD_USER_INPUT naming the limit, and stays up', async () => {
      const answers = await Promise.all(
        [1, 2, 3].map(async () => {
          const response = await post({ query: aliases(15, 3) });
          return { status: response.status, body: (await response.json()) as GraphQLResponse<unknown> };
        }),
      );
      for (const { status, body } of answers) {
        expect(status).toBe(400);
        expect(body.data).toBeUndefined();
        expect(body.errors).toHaveLength(1);
        expect(body.errors?.[0]?.extensions).toMatchObject({
          code: 'BAD_USER_INPUT',
          limit: 'GRAPHQL_MAX_RESPONSE_BYTES',
          max: 8 * 1024 * 1024,
        });
        expect(body.errors?.[0]?.message).toMatch(
          /^the response would be about \d+ MB, over the limit of 8\.0 MB \(GRAPHQL_MAX_RESPONSE_BYTES\): ask for fewer items or fields$/,
        );
      }
      await expectAlive(herald);
    }, 60_000);
  });
});
