import type { ChildProcess } from 'node:child_process';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { overWebsocket, wsClient } from '../support/graphql';
import { expectAlive, PRODUCTION_NODE_ARGS, startStack, type TestStack } from '../support/stack';

const SECRET = 'ws-flood-test-secret-that-is-long-enough-hs256';
const TOO_MANY = {
  code: 4429,
  reason: 'Too many messages: over 100 a second (WS_MAX_MESSAGES_PER_SECOND)',
};

let probe = 0;
/** A read token with its own `sub`, so one test's spent rate-limit budget never decides another's result. */
function token(): Promise<string> {
  probe += 1;
  return new SignJWT({ tenant: 'acme', scope: 'communication:read' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(`flooder-${probe}`)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));
}

interface Socket {
  socket: WebSocket;
  /** How the server closed it (code and reason). */
  closed: Promise<{ code: number; reason: string }>;
  /** Every message the server sent, parsed. */
  received: { type: string; id?: string }[];
}

/** A raw graphql-transport-ws socket, opened; with `authorization`, initialised and acknowledged. */
async function open(httpUrl: string, authorization?: string): Promise<Socket> {
  const socket = new WebSocket(httpUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const received: Socket['received'] = [];
  socket.on('message', (data: Buffer) => received.push(JSON.parse(data.toString()) as Socket['received'][0]));
  socket.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  if (authorization) {
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization } }));
    await new Promise<void>((resolve) => {
      const acked = () => {
        if (!received.some((m) => m.type === 'connection_ack')) return;
        socket.off('message', acked);
        resolve();
      };
      socket.on('message', acked);
    });
  }
  return { socket, closed, received };
}

const subscribe = (id: string, query: string) =>
  JSON.stringify({ id, type: 'subscribe', payload: { query } });
const complete = (id: string) => JSON.stringify({ id, type: 'complete' });
const statusSubscription = (i: number) => `subscription { messageStatusChanged(userId: "u${i}") { status } }`;

/**
 * Many small frames on one socket, the break-it review's flood (20 such sockets of subscribe/complete pairs exhausted
 * the 192 MB heap; floods of `{ __typename }` or of pings held /health for seconds): past its message rate a socket
 * is closed with 4429 before anything parses what it sent, and the process serves on. Against a Herald of its own
 * with the production heap, auth on.
 */
describe('a websocket flooding small messages', () => {
  let stack: TestStack;
  let herald: { url: string; child: ChildProcess };
  beforeAll(async () => {
    stack = await startStack({ role: 'worker', extraEnv: { JWT_SECRET: SECRET } });
    herald = await stack.spawnRole('api', { nodeArgs: PRODUCTION_NODE_ARGS });
  });
  afterAll(() => stack?.close());

  it('20 authenticated sockets sending 2,000 subscribe/complete pairs each are closed with 4429', async () => {
    const sockets = await Promise.all(
      Array.from({ length: 20 }, async () => open(herald.url, `Bearer ${await token()}`)),
    );
    for (const { socket } of sockets)
      for (let i = 0; i < 2_000; i += 1) {
        socket.send(subscribe(String(i), statusSubscription(i)));
        socket.send(complete(String(i)));
      }
    for (const { closed } of sockets) expect(await closed).toEqual(TOO_MANY);
    await expectAlive(herald);
  });

  it('a socket sending 5,000 `{ __typename }` operations is closed with 4429; at most its burst was answered', async () => {
    const { socket, closed, received } = await open(herald.url, `Bearer ${await token()}`);
    for (let i = 0; i < 5_000; i += 1) socket.send(subscribe(String(i), '{ __typename }'));
    expect(await closed).toEqual(TOO_MANY);
    // connection_init and 99 operations fit the burst of 100 (plus what refills while the frames arrive): the rest
    // were dropped unread.
    const answered = new Set(received.filter((m) => m.id !== undefined).map((m) => m.id));
    expect(answered.size).toBeLessThan(1_000);
    await expectAlive(herald);
  });

  it('pings before connection_init count too: a socket that never authenticates is closed with 4429', async () => {
    const { socket, closed } = await open(herald.url);
    // 600 pings: six times the burst, yet 600 × 21 bytes (15 of JSON, 6 of masked frame header) stay under the 16 KiB
    // a socket may send before connection_ack, so the message rate is what closes it. 5,000 could reach the server
    // in one chunk on a loaded machine and be closed 1009 by that byte cap first.
    for (let i = 0; i < 600; i += 1) socket.send('{"type":"ping"}');
    expect(await closed).toEqual(TOO_MANY);
    await expectAlive(herald);
  });

  it('a client within the limits keeps its socket: 40 subscribe/complete pairs at once, then an operation answers', async () => {
    const client = wsClient(herald.url, `Bearer ${await token()}`);
    const { socket } = await open(herald.url, `Bearer ${await token()}`);
    for (let i = 0; i < 40; i += 1) {
      socket.send(subscribe(String(i), statusSubscription(i)));
      socket.send(complete(String(i)));
    }
    socket.send(subscribe('last', '{ __typename }'));
    const answer = await new Promise<unknown>((resolve) =>
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString()) as { id?: string; type: string; payload?: unknown };
        if (message.id === 'last' && message.type === 'next') resolve(message.payload);
      }),
    );
    expect(answer).toEqual({ data: { __typename: 'Query' } });
    expect(socket.readyState).toBe(WebSocket.OPEN);
    // And a graphql-ws client of its own, beside it, is served as usual.
    expect(await overWebsocket(client, '{ __typename }')).toEqual({ data: { __typename: 'Query' } });
    socket.close();
    await client.dispose();
  });
});
