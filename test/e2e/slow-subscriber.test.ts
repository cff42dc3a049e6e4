import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { MessageStatusPayload } from '../../src/pubsub/pubsub';
import { waitForSubscribers } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const CAPACITY = 64;

/** A client that completes the graphql-ws handshake, subscribes, then stops reading its socket. */
async function neverReadingSubscriber(url: string, userId: string): Promise<WebSocket> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  await new Promise<void>((resolve) => socket.once('message', () => resolve()));
  socket.send(
    JSON.stringify({
      id: '1',
      type: 'subscribe',
      payload: {
        query:
          'subscription ($u: ID) { messageStatusChanged(userId: $u) { status occurredAt message { id to content { body } } } }',
        variables: { u: userId },
      },
    }),
  );
  await waitForSubscribers(url, 1);
  // From here on nothing is read: the kernel buffers fill and the server must hold back.
  (socket as unknown as { _socket: { pause(): void } })._socket.pause();
  return socket;
}

describe('a websocket subscriber that never reads', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ role: 'api', extraEnv: { SUBSCRIPTION_BUFFER_EVENTS: String(CAPACITY) } });
  });
  afterAll(() => stack?.close());

  it('keeps server memory bounded while 10,000 events are published: buffer ≤ capacity, newest status per message kept', async () => {
    const userId = `u-${randomUUID()}`;
    const socket = await neverReadingSubscriber(stack.url, userId);
    const { pubsub } = stack.herald.services.deps;
    const registry = stack.herald.services.subscriptions;
    const body = 'x'.repeat(2_000);
    const messages = Array.from({ length: 200 }, () => randomUUID());
    let peakBuffered = 0;
    let peakSocketBytes = 0;
    const sample = () => {
      peakBuffered = Math.max(peakBuffered, registry.stats().buffered);
      for (const client of stack.herald.http!.websockets.clients)
        peakSocketBytes = Math.max(peakSocketBytes, client.bufferedAmount);
    };
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('run with --expose-gc (vitest.config.mts sets it)');
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 10_000; i += 1) {
      const messageId = messages[i % messages.length];
      const event: MessageStatusPayload = {
        tenantId: 'default',
        userId,
        notificationId: messageId,
        messageId,
        status: i < 5_000 ? 'SENT' : 'DELIVERED',
        previousStatus: null,
        occurredAt: new Date().toISOString(),
        message: { id: messageId, to: '+14155552671', content: { body }, channel: 'SMS', status: 'SENT' },
      };
      pubsub.publish(event);
      if (i % 100 === 0) {
        sample();
        await new Promise((r) => setImmediate(r));
      }
    }
    // Let Redis deliver everything that was published.
    for (let i = 0; i < 40; i += 1) {
      sample();
      await new Promise((r) => setTimeout(r, 50));
    }
    const stats = registry.stats();
    gc();
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;

    expect(stats.subscribers).toBe(1);
    expect(peakBuffered).toBeLessThanOrEqual(CAPACITY);
    // It did overflow: events were coalesced or dropped rather than queued without bound.
    expect(stats.coalesced + stats.dropped).toBeGreaterThan(0);
    // graphql-ws awaits each send, so at most one frame waits in user space on the stalled socket.
    expect(peakSocketBytes).toBeLessThan(64 * 1024);
    // 10,000 events of ~2 KB are ~20 MB; with the subscription still open, the server holds a small fraction.
    expect(heapGrowth).toBeLessThan(6 * 1024 * 1024);
    socket.terminate();
  });
});
