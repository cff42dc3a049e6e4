import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulatorServer, type RunningEmulator } from '../../src/sandbox/emulator-server';
import {
  CancelNotificationDocument,
  MessageStatusChangedDocument,
  SendNotificationDocument,
  type MessageStatusChangedSubscription,
} from '../support/generated/graphql';
import { execute, waitFor, wsClient } from '../support/graphql';
import { startOwnRedis, type OwnRedis } from '../support/own-services';
import {
  dropStack,
  isolatedEnv,
  spawnHerald,
  twilioRequestsPerMessage,
  type StackEnv,
} from '../support/stack';

const FINAL = ['DELIVERED', 'FAILED', 'CANCELLED', 'SUPPRESSED', 'UNDELIVERED'];
const SUBSCRIBED_USER = `watched-${randomUUID()}`;

type Outcome = { userId: string; notificationId?: string; code?: string; at: 'before' | 'down' | 'after' };

/**
 * Redis of this test's own stopped under a running Herald (`all` role, its own OS process, so an exit shows) while
 * sends, cancels, provider callbacks and a websocket subscriber keep going; then restarted empty on the same port.
 */
describe.sequential('losing Redis under traffic', () => {
  let redis: OwnRedis;
  let emulator: RunningEmulator;
  let env: StackEnv;
  let herald: { url: string; child: ChildProcess; stop(): Promise<void> };
  let base: string;
  let db: pg.Client;
  let exited: string | undefined;
  let output = '';

  beforeAll(async () => {
    [redis, emulator] = await Promise.all([
      startOwnRedis(),
      startEmulatorServer({ callbacks: { delayMs: 200 } }),
    ]);
    env = isolatedEnv(emulator.url, {
      REDIS_URL: redis.url,
      // The restarted Redis is empty: QUEUED rows whose job went with it come back after this long.
      REQUEUE_AFTER_MS: '1000',
      DISPATCH_LEASE_MS: '5000',
    });
    herald = await spawnHerald(env, 'all');
    base = herald.url.replace(/\/graphql$/, '');
    herald.child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    herald.child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    herald.child.on('exit', (code, signal) => (exited = `exit code ${code}, signal ${signal}`));
    db = new pg.Client({ connectionString: env.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    if (process.env.REDIS_LOSS_LOG) console.log(output);
    await db?.end();
    await herald?.stop();
    await redis?.stop();
    await emulator?.close();
    if (env) await dropStack(env);
  });

  const alive = () => {
    if (exited) throw new Error(`Herald exited (${exited}):\n${output.slice(-4_000)}`);
  };
  /** waitFor, but an exit of the process fails at once instead of at the deadline. */
  const until = async <T>(probe: () => Promise<T | undefined | null | false>, ms: number, what: string) => {
    const value = await waitFor<T | 'exited'>(async () => (exited ? 'exited' : probe()), ms, what);
    alive();
    return value as T;
  };
  const send = (userId: string) =>
    execute(herald.url, SendNotificationDocument, {
      input: {
        userId,
        type: 'redis-loss',
        channels: ['SMS'],
        to: { phone: '+14155552671' },
        content: { body: `hello ${userId}` },
      },
    });
  const health = async () => {
    alive();
    const response = await fetch(`${base}/health`);
    expect(response.status).toBe(200);
  };
  const statuses = async (userIds: string[]) =>
    (
      await db.query<{ user_id: string; status: string }>(
        'select user_id, status from message where user_id = any($1)',
        [userIds],
      )
    ).rows;

  it(
    'stays up, refuses sends while Redis is down, and resumes with every accepted message final and none sent twice',
    { timeout: 300_000 },
    async () => {
      // Slow enough that messages are in flight (SENDING) when Redis goes.
      emulator.emulator.injectFault({ vendor: 'twilio', count: 1_000_000, delayMs: 30 });

      // A subscriber that resubscribes whenever its subscription ends (a client may reconnect).
      const seen: MessageStatusChangedSubscription[] = [];
      let listening = true;
      const listen = () => {
        const client = wsClient(herald.url);
        const again = () =>
          void Promise.resolve(client.dispose()).finally(() => listening && setTimeout(listen, 500));
        client.subscribe<MessageStatusChangedSubscription>(
          { query: print(MessageStatusChangedDocument), variables: { userId: SUBSCRIBED_USER } },
          {
            next: (value) => value.data && seen.push(value.data),
            error: (error) => {
              if (process.env.REDIS_LOSS_LOG) console.log('subscription error', String(error));
              again();
            },
            complete: () => {
              if (process.env.REDIS_LOSS_LOG) console.log('subscription complete');
              again();
            },
          },
        );
        return client;
      };
      const subscriber = listen();

      const outcomes: Outcome[] = [];
      let phase: Outcome['at'] = 'before';
      let trafficOn = true;
      let n = 0;
      const traffic = (async () => {
        while (trafficOn) {
          await Promise.all(
            Array.from({ length: 4 }, async () => {
              const userId = `load-${(n += 1)}`;
              const at = phase;
              const result = await send(userId).catch((error: Error) => ({
                errors: [{ message: error.message, extensions: { code: 'FETCH_FAILED' } }],
                data: undefined,
              }));
              const id = result.data?.sendNotification.notification.id;
              outcomes.push({ userId, at, notificationId: id, code: result.errors?.[0]?.extensions?.code });
              // Every fifth accepted send is cancelled at once: cancels run before, during and after the outage.
              if (id && n % 5 === 0)
                await execute(herald.url, CancelNotificationDocument, { id }).catch(() => undefined);
            }),
          );
          await new Promise((r) => setTimeout(r, 20));
        }
      })();

      await until(
        () => Promise.resolve(outcomes.filter((o) => o.notificationId).length >= 40),
        60_000,
        '40 sends accepted',
      );
      await until(
        () => Promise.resolve(emulator.emulator.recorded('twilio').length >= 20),
        60_000,
        '20 provider requests',
      );
      await health();

      // Redis goes away mid-traffic.
      phase = 'down';
      await redis.stop();
      const downSince = outcomes.length;
      await until(
        async () => {
          await health();
          const ready = await fetch(`${base}/ready`);
          return ready.status === 503 && ((await ready.json()) as { status: string }).status === 'degraded';
        },
        60_000,
        '/ready degraded',
      );
      const ready = await fetch(`${base}/ready`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { services: unknown }).services).toEqual({
        postgres: 'up',
        redis: 'down',
      });
      // A cancel of an accepted notification while Redis is down (PostgreSQL alone decides it).
      const accepted = outcomes.find((o) => o.notificationId && o.at === 'before')!;
      const cancel = await execute(herald.url, CancelNotificationDocument, { id: accepted.notificationId! });
      // Cancelled, or refused because its message was already handed to the provider; either way answered.
      expect([undefined, 'NOT_CANCELLABLE']).toContain(cancel.errors?.[0]?.extensions?.code);
      // Traffic goes on against the degraded process: enough refused sends that every path had its chance to fail,
      // and provider callbacks for messages sent before the outage arrive while it lasts.
      const callbacksBefore = emulator.emulator.callbacks!.sent.length;
      await until(
        async () => {
          await health();
          return outcomes.slice(downSince).filter((o) => o.at === 'down' && o.code).length >= 100;
        },
        120_000,
        '100 sends refused while Redis is down',
      );
      const callbacksWhileDown = emulator.emulator.callbacks!.sent.slice(callbacksBefore);
      expect(callbacksWhileDown.length).toBeGreaterThan(0);
      // Stored and applied with PostgreSQL alone (only their status publish is dropped).
      expect(callbacksWhileDown.filter((c) => c.status !== 200 && c.status !== 204)).toEqual([]);
      await health();

      // Redis comes back, empty, on the same port.
      await redis.start();
      await until(
        async () => {
          await health();
          return (await fetch(`${base}/ready`)).status === 200;
        },
        60_000,
        '/ready healthy again',
      );
      phase = 'after';
      await until(
        () => Promise.resolve(outcomes.filter((o) => o.at === 'after' && o.notificationId).length >= 20),
        120_000,
        '20 sends accepted after Redis returned',
      );
      trafficOn = false;
      await traffic;
      // A send for the subscribed user after the restart reaches the subscriber.
      const watched = await until(
        async () => (await send(SUBSCRIBED_USER)).data?.sendNotification.notification.id ?? false,
        60_000,
        'a send for the subscribed user',
      );
      await health();

      // While Redis was down: every send answered SERVICE_UNAVAILABLE, and nothing was kept of them.
      const refused = outcomes.filter((o) => !o.notificationId);
      expect(refused.length).toBeGreaterThanOrEqual(100);
      expect(new Set(refused.map((o) => o.code))).toEqual(new Set(['SERVICE_UNAVAILABLE']));
      expect(await statuses(refused.map((o) => o.userId))).toEqual([]);

      // Everything accepted, before, during (if any) and after the outage, ends final; none went twice.
      const acceptedIds = outcomes.filter((o) => o.notificationId).map((o) => o.userId);
      await until(
        async () => {
          await health();
          const rows = await statuses(acceptedIds);
          return rows.length === acceptedIds.length && rows.every((r) => FINAL.includes(r.status));
        },
        180_000,
        'every accepted message final',
      ).catch(async (error: unknown) => {
        const rows = await statuses(acceptedIds);
        const counts: Record<string, number> = {};
        rows.forEach((r) => (counts[r.status] = (counts[r.status] ?? 0) + 1));
        console.log('statuses when the wait gave up:', JSON.stringify(counts), output.slice(-4_000));
        throw error;
      });
      const rows = await statuses(acceptedIds);
      // The provider reported each sent message delivered, callbacks during the outage included.
      expect(rows.filter((r) => r.status !== 'DELIVERED' && r.status !== 'CANCELLED')).toEqual([]);
      const counts = twilioRequestsPerMessage(emulator);
      expect([...counts.entries()].filter(([, c]) => c > 1)).toEqual([]);
      await until(
        () => Promise.resolve(seen.some((e) => e.messageStatusChanged.notificationId === watched)),
        60_000,
        'the subscriber hears about a send made after the restart',
      );
      // Status publishes made while Redis was down were dropped (and counted), not queued or thrown.
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(Number(/^herald_status_publishes_dropped_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
      listening = false;
      await subscriber.dispose();
      alive();
      // Handled at each source: nothing reached the process-level net of main.ts.
      expect(output).not.toMatch(/BUG: un(handled|caught)/);
    },
  );
});
