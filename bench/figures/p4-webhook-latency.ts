import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import twilio from 'twilio';
import WebSocket from 'ws';
import { SANDBOX } from '../../src/config/sandbox';
import { benchDb, benchEnv, dropBenchEnv, REDIS_URL } from '../lib/bench-env';
import { spawnHerald } from '../lib/processes';
import { seedFromTemplate } from '../lib/seed';
import { percentile, round, sleep } from '../lib/stats';
import type { BenchContext, Figure } from './types';

const SUBSCRIPTION = `subscription ($userId: ID!) {
  messageStatusChanged(userId: $userId) { status message { id } }
}`;

/** Sends `total` items at `perSecond`, in slices every 10 ms. */
async function paced<T>(items: T[], perSecond: number, send: (item: T) => void): Promise<void> {
  const perTick = Math.max(1, Math.round(perSecond / 100));
  const started = performance.now();
  for (let i = 0; i < items.length; i += perTick) {
    items.slice(i, i + perTick).forEach(send);
    const due = started + ((i + perTick) / perSecond) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
  }
}

/** Redis pub/sub round trip at the same rate: publish with a timestamp, receive on another connection. */
async function redisRoundTrip(total: number, perSecond: number): Promise<number[]> {
  const channel = `herald-bench-rtt-${Date.now()}`;
  const publisher = new Redis(REDIS_URL);
  const subscriber = new Redis(REDIS_URL);
  const latencies: number[] = [];
  const all = new Promise<void>((resolve) => {
    subscriber.on('message', (_channel, payload) => {
      latencies.push(performance.now() - Number(payload));
      if (latencies.length === total) resolve();
    });
  });
  await subscriber.subscribe(channel);
  await paced(
    Array.from({ length: total }, (_, i) => i),
    perSecond,
    () => void publisher.publish(channel, String(performance.now())),
  );
  await Promise.race([all, sleep(10_000)]);
  publisher.disconnect();
  subscriber.disconnect();
  return latencies;
}

async function subscriptionsLive(apiUrl: string): Promise<number> {
  const metrics = await (await fetch(`${apiUrl}/metrics`)).text();
  return Number(/^herald_subscriptions (\d+)/m.exec(metrics)?.[1] ?? 0);
}

/**
 * P4: webhook → subscriber latency. 1,000 graphql-ws clients, each subscribed to its own user; signed Twilio status
 * webhooks at 1,000/s for those users' SENT messages; latency from posting the webhook to the client receiving
 * DELIVERED. Ceiling: a Redis pub/sub round trip at the same rate.
 */
export async function webhookLatency(ctx: BenchContext): Promise<Figure> {
  const users = ctx.scale === 'tiny' ? 20 : 1_000;
  const perUser = ctx.scale === 'tiny' ? 2 : 5;
  const perSecond = ctx.scale === 'tiny' ? 100 : 1_000;
  // One second of the same load first, unmeasured: a service in production is warm (JIT, plans, pools).
  const warmUp = perSecond;
  const env = benchEnv('p4', ctx.emulatorUrl);
  const api = await spawnHerald('api', env.vars);
  const db = await benchDb(env);
  const clients: Client[] = [];
  try {
    await seedFromTemplate(api.url, db, {
      count: users * perUser + warmUp,
      users,
      userPrefix: 'ws-u-',
      messageOverrides: {
        status: `'SENT'`,
        provider: `'twilio-sms'`,
        attempt: '1',
        sent_at: 'now()',
        provider_message_id: `'SM' || md5(n.id::text)`,
      },
    });
    const messages = (
      await db.query(`select id, user_id, provider_message_id, "to" from message order by random()`)
    ).rows as { id: string; user_id: string; provider_message_id: string; to: string }[];
    const warming = messages.splice(0, warmUp);
    const measured = new Set(messages.map((m) => m.id));

    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    let received = 0;
    for (let u = 0; u < users; u++) {
      const client = createClient({
        url: `${api.url.replace(/^http/, 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
      });
      clients.push(client);
      client.subscribe<{ messageStatusChanged: { status: string; message: { id: string } } }>(
        { query: SUBSCRIPTION, variables: { userId: `ws-u-${u}` } },
        {
          next: ({ data }) => {
            const event = data?.messageStatusChanged;
            if (event?.status !== 'DELIVERED') return;
            if (!measured.has(event.message.id)) return;
            const started = sentAt.get(event.message.id);
            if (started !== undefined) latencies.push(performance.now() - started);
            received += 1;
          },
          error: () => undefined,
          complete: () => undefined,
        },
      );
    }
    const deadline = Date.now() + 60_000;
    while ((await subscriptionsLive(api.url)) < users) {
      if (Date.now() > deadline) throw new Error('P4: subscriptions did not all go live');
      await sleep(100);
    }

    const path = '/webhooks/twilio/status';
    let failures = 0;
    const responseMs: number[] = [];
    const post = (m: (typeof messages)[number], done: (response: Response | null) => void) => {
      const url = `${api.url}${path}?hm=${m.id}`;
      const params = {
        MessageSid: m.provider_message_id,
        SmsSid: m.provider_message_id,
        AccountSid: SANDBOX.twilio.accountSid,
        MessageStatus: 'delivered',
        SmsStatus: 'delivered',
        To: m.to,
        From: SANDBOX.twilio.from,
        ApiVersion: '2010-04-01',
      };
      const signature = twilio.getExpectedTwilioSignature(SANDBOX.twilio.authToken, url, params);
      sentAt.set(m.id, performance.now());
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        body: new URLSearchParams(params).toString(),
      }).then(
        (response) => {
          done(response);
          return response.arrayBuffer();
        },
        () => done(null),
      );
    };
    let warmed = 0;
    await paced(warming, perSecond, (m) => post(m, () => (warmed += 1)));
    while (warmed < warming.length) await sleep(20);
    // The load generator's own event-loop delay: a latency is stamped when this process gets to the message, so its
    // lag (1,000 websocket clients and 1,000 signed posts a second share one event loop) is part of every figure.
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    await paced(messages, perSecond, (m) =>
      post(m, (response) => {
        responseMs.push(performance.now() - sentAt.get(m.id)!);
        if (!response?.ok) failures += 1;
      }),
    );
    const until = Date.now() + 15_000;
    while (received < messages.length && Date.now() < until) await sleep(50);
    lag.disable();

    const ceiling = await redisRoundTrip(messages.length, perSecond);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    ctx.log(`P4: p50 ${round(p50, 2)} ms, p99 ${round(p99, 2)} ms over ${latencies.length} events`);
    return {
      id: 'P4',
      name: `webhook → subscriber latency, ${users} websocket clients, ${perSecond} signed webhooks/s, p99`,
      value: round(p99, 2),
      unit: 'ms',
      ceiling: round(percentile(ceiling, 99), 2),
      ceilingName: 'Redis pub/sub round trip at the same rate, p99 ms',
      ratio: null,
      goal: 'p99 ≤ 50 ms',
      met: p99 <= 50 && received === messages.length,
      details: {
        p50Ms: round(p50, 2),
        ceilingP50Ms: round(percentile(ceiling, 50), 2),
        webhooks: messages.length,
        received,
        webhookFailures: failures,
        webhookResponseP50Ms: round(percentile(responseMs, 50), 2),
        webhookResponseP99Ms: round(percentile(responseMs, 99), 2),
        loadGeneratorLagP99Ms: round(lag.percentile(99) / 1e6, 2),
      },
    };
  } finally {
    await Promise.all(clients.map((c) => Promise.resolve(c.dispose())));
    await db.end();
    await api.stop();
    await dropBenchEnv(env);
  }
}
