import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { expectAlive, PRODUCTION_NODE_ARGS, startStack, type TestStack } from '../support/stack';
import { waitFor } from '../support/graphql';
import { WebhookSender } from '../support/webhooks';

const JWT_SECRET = 'parse-bombs-secret-that-is-long-enough-for-hs256';
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const deepObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

/** Opens a graphql-ws socket, sends `first` as its first message and resolves how the server closed it. */
function closeAfter(url: string, first: string): Promise<{ code: number; reason: string }> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  return new Promise((resolve) => {
    socket.on('open', () => socket.send(first));
    socket.on('error', () => undefined);
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
}

// The break-it review's inputs, against a spawned Herald with the production heap and auth on: nothing here carries a
// token or a valid Twilio signature, and each used to hold the event loop for seconds or exhaust the heap.
describe('bodies shaped to cost parse time, refused before parsing (no token, no valid signature)', () => {
  const sender = new WebhookSender();
  let stack: TestStack;
  let herald: { url: string; child: import('node:child_process').ChildProcess };
  beforeAll(async () => {
    stack = await startStack({
      role: 'worker',
      extraEnv: {
        JWT_SECRET,
        SENDGRID_WEBHOOK_PUBLIC_KEY: sender.sendgridPublicKey,
      },
    });
    herald = await stack.spawnRole('api', { nodeArgs: PRODUCTION_NODE_ARGS });
    sender.baseUrl = herald.url.replace(/\/graphql$/, '');
  });
  afterAll(() => stack?.close());

  it('4 concurrent /graphql bodies nested a million levels deep answer 400 BAD_REQUEST naming the limit', async () => {
    const body = `{"query":"{ __typename }","variables":{"v":${nested(1_000_000)}}}`;
    const answers = await Promise.all(
      Array.from({ length: 4 }, () =>
        fetch(herald.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
      ),
    );
    for (const answer of answers) {
      expect(answer.status).toBe(400);
      expect(await answer.json()).toEqual({
        errors: [{ message: 'JSON nests deeper than 8192 levels', extensions: { code: 'BAD_REQUEST' } }],
      });
    }
    await expectAlive(herald);
  });

  it('4 websockets whose connection_init nests a million levels deep are closed with 1009 before anything parses it', async () => {
    // 2 MB before connection_ack: past WS_MAX_INIT_PAYLOAD_BYTES (16 KiB), so ws's frame is never handed on.
    const init = `{"type":"connection_init","payload":{"a":${nested(1_000_000)}}}`;
    const closes = await Promise.all(Array.from({ length: 4 }, () => closeAfter(herald.url, init)));
    for (const close of closes) expect(close.code).toBe(1009);
    // A binary frame is no graphql-transport-ws message either.
    expect(await closeAfter(herald.url, Buffer.from('{}') as unknown as string)).toMatchObject({
      code: 4400,
    });
    await expectAlive(herald);
  });

  it('4 signed-in websockets whose subscribe nests 100,000 levels deep (200 KB, under WS_MAX_PAYLOAD_BYTES) are closed with 4400 before graphql-ws parses it', async () => {
    const token = await new SignJWT({ tenant: 'bombs', scope: 'communication:read' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('bomber')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JWT_SECRET));
    const subscribe = `{"id":"1","type":"subscribe","payload":{"query":"{ __typename }","variables":{"v":${nested(100_000)}}}}`;
    const closeAfterAck = () =>
      new Promise<{ code: number; reason: string }>((resolve) => {
        const socket = new WebSocket(herald.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
        socket.on('open', () =>
          socket.send(
            JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }),
          ),
        );
        socket.on('message', (data: Buffer) => {
          if ((JSON.parse(data.toString()) as { type: string }).type === 'connection_ack')
            socket.send(subscribe);
        });
        socket.on('error', () => undefined);
        socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      });
    const closes = await Promise.all(Array.from({ length: 4 }, closeAfterAck));
    for (const close of closes) {
      expect(close).toEqual({ code: 4400, reason: 'Bad request: message nests deeper than 8192 levels' });
    }
    await expectAlive(herald);
  });

  it('5 concurrent Twilio forms of 110,000 fields with a bad signature answer 413 before the signature is checked', async () => {
    const form = (fields: number) => Array.from({ length: fields }, (_, i) => `f${i}=1`).join('&');
    const post = (body: string) =>
      fetch(`${sender.baseUrl}/webhooks/twilio/status`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'forged' },
        body,
      });
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(form(110_000))));
    for (const answer of answers) {
      expect(answer.status).toBe(413);
      expect(await answer.json()).toEqual({ error: 'form has more than 1000 fields' });
    }
    // At the limit the form goes on to the signature check (403 here): the cap refuses only what Twilio never sends.
    expect((await post(form(1_000))).status).toBe(403);
    await expectAlive(herald);
  });

  it('a signed SendGrid event holding a 160,000-level object answers 400, not 500', async () => {
    const event = `{"event":"delivered","sg_event_id":"deep-1","sg_message_id":"m.filter0001","timestamp":${Math.floor(
      Date.now() / 1000,
    )},"x":${deepObject(160_000)}}`;
    const answer = await sender.sendgrid(`[${event}]`);
    expect(answer.status).toBe(400);
    expect(await answer.json()).toEqual({ error: 'JSON nests deeper than 64 levels' });
    await expectAlive(herald);
  });
});

describe('a websocket client that stops reading', () => {
  const BIG = 90_000;
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({
      role: 'api',
      extraEnv: { WS_MAX_BUFFERED_BYTES: '65536', RATE_LIMIT_ENABLED: 'false' },
    });
    // Five email types of ~180 KB each: one notificationTypes result is about 0.9 MB.
    for (let i = 0; i < 5; i += 1) {
      const answer = await fetch(stack.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query:
            'mutation ($input: NotificationTypeInput!) { upsertNotificationType(input: $input) { key } }',
          variables: {
            input: {
              key: `big-${i}`,
              templates: [{ channel: 'EMAIL', subject: 's', text: 't'.repeat(BIG), html: 'h'.repeat(BIG) }],
            },
          },
        }),
      });
      expect(await answer.json()).toMatchObject({ data: { upsertNotificationType: { key: `big-${i}` } } });
    }
  });
  afterAll(() => stack?.close());

  it('is closed with 1013 once its unsent bytes pass WS_MAX_BUFFERED_BYTES, and the results after are dropped', async () => {
    const socket = new WebSocket(stack.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    await new Promise<void>((resolve) => socket.once('message', () => resolve()));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    // From here on nothing is read: the kernel buffers fill, then the server's.
    (socket as unknown as { _socket: { pause(): void } })._socket.pause();
    for (let i = 0; i < 50; i += 1) {
      socket.send(
        JSON.stringify({
          id: String(i),
          type: 'subscribe',
          payload: { query: '{ notificationTypes { key templates { text html } } }' },
        }),
      );
    }
    const serverSocket = () => [...stack.herald.http!.websockets.clients][0];
    await waitFor(
      () => Promise.resolve(serverSocket() === undefined || serverSocket().readyState !== WebSocket.OPEN),
      30_000,
      'the server to close the non-reading socket',
    );
    (socket as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(1013);
    expect((await fetch(stack.url.replace(/\/graphql$/, '/health'))).status).toBe(200);
  });
});
