import pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/env';
import { createLogger } from '../../src/config/logger';
import { startEmulatorServer, type RunningEmulator } from '../../src/sandbox/emulator-server';
import { startHerald, type Herald } from '../../src/runtime/herald';
import { SendNotificationsDocument, type SendNotificationInput } from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { startOwnPostgres, startOwnRedis, type OwnPostgres, type OwnRedis } from '../support/own-services';
import {
  freePort,
  isolatedEnv,
  spawnHerald,
  twilioRequestsPerMessage,
  type StackEnv,
} from '../support/stack';

const FINAL = ['SENT', 'FAILED', 'SUPPRESSED', 'CANCELLED'];

/**
 * Fault injection on real processes, against a PostgreSQL cluster and a redis-server of this test's own
 * (never the machine's shared services).
 */
describe.sequential('faults: a flushed Redis and a killed worker', () => {
  let postgres: OwnPostgres;
  let redis: OwnRedis;
  let emulator: RunningEmulator;
  let env: StackEnv;
  let api: Herald;
  let db: pg.Client;

  beforeAll(async () => {
    [postgres, redis, emulator] = await Promise.all([
      startOwnPostgres(),
      startOwnRedis(),
      startEmulatorServer(),
    ]);
    const port = await freePort();
    env = isolatedEnv(emulator.url, {
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      DATABASE_URL: postgres.url,
      REDIS_URL: redis.url,
      REQUEUE_AFTER_MS: '500',
      DISPATCH_LEASE_MS: '2000',
      DISPATCH_CONCURRENCY: '10',
    });
    api = await startHerald(parseConfig(env.vars), 'api', { logger: createLogger('silent') });
    db = new pg.Client({ connectionString: postgres.url });
    // This test stops the server under it: a dropped connection must not become an uncaught 'error' event.
    db.on('error', () => undefined);
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await api?.close();
    await redis?.stop();
    await postgres?.destroy();
    await emulator?.close();
  });

  const batch = async (size: number, tag: string) => {
    const inputs: SendNotificationInput[] = Array.from({ length: size }, (_, i) => ({
      userId: `${tag}-${i % 50}`,
      type: tag,
      channels: ['SMS'],
      to: { phone: '+14155552671' },
      content: { body: `${tag} ${i}` },
    }));
    for (let i = 0; i < size; i += 1_000) {
      const { sendNotifications } = await executeOk(`${api.url}/graphql`, SendNotificationsDocument, {
        inputs: inputs.slice(i, i + 1_000),
      });
      expect(sendNotifications.summary.failed).toBe(0);
    }
  };
  const statuses = async (tag: string) =>
    (
      await db.query<{ status: string; n: number }>(
        'select status, count(*)::int n from message where type_key = $1 group by status',
        [tag],
      )
    ).rows;

  it(
    'Redis flushed with 1,000 queued messages: all sent exactly once after the sweeper',
    { timeout: 180_000 },
    async () => {
      emulator.emulator.reset();
      await batch(1_000, 'flushed');
      const client = new Redis(redis.url);
      await client.flushall();
      client.disconnect();

      const worker = await startHerald(parseConfig(env.vars), 'worker', {
        logger: createLogger(process.env.FAULT_LOG ?? 'silent'),
      });
      try {
        await waitFor(
          async () =>
            (await statuses('flushed')).every((r) => FINAL.includes(r.status)) &&
            (await statuses('flushed')).length > 0,
          150_000,
          'all final',
        );
        expect(await statuses('flushed')).toEqual([{ status: 'SENT', n: 1_000 }]);
        const counts = twilioRequestsPerMessage(emulator);
        expect(counts.size).toBe(1_000);
        expect([...counts.values()].every((n) => n === 1)).toBe(true);
      } finally {
        await worker.close();
      }
    },
  );

  it(
    'PostgreSQL stopped and restarted during sends: SERVICE_UNAVAILABLE while down, every accepted notification delivered',
    { timeout: 180_000 },
    async () => {
      emulator.emulator.reset();
      emulator.emulator.injectFault({ vendor: 'twilio', count: 10_000, delayMs: 10 });
      const worker = await startHerald(parseConfig(env.vars), 'worker', { logger: createLogger('silent') });
      try {
        await batch(300, 'pgdown');
        await waitFor(
          () => Promise.resolve(emulator.emulator.recorded('twilio').length >= 50),
          30_000,
          '50 sends',
        );
        await postgres.stop();
        const refused = await execute(`${api.url}/graphql`, SendNotificationsDocument, {
          inputs: [
            {
              userId: 'u',
              type: 'pgdown',
              channels: ['SMS'],
              to: { phone: '+14155552671' },
              content: { body: 'x' },
            },
          ],
        });
        expect(refused.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
        await new Promise((r) => setTimeout(r, 2_000));
        await postgres.start();
        // db's own connection died with the server.
        await db.end().catch(() => undefined);
        db = new pg.Client({ connectionString: postgres.url });
        db.on('error', () => undefined);
        await db.connect();
        await waitFor(
          async () => {
            const rows = await statuses('pgdown');
            return rows.length > 0 && rows.every((r) => FINAL.includes(r.status));
          },
          150_000,
          'all final after the restart',
        ).catch(async (error: unknown) => {
          console.log('state when the wait gave up:', JSON.stringify(await statuses('pgdown')));
          throw error;
        });
        expect(await statuses('pgdown')).toEqual([{ status: 'SENT', n: 300 }]);
        expect(twilioRequestsPerMessage(emulator).size).toBe(300);
      } finally {
        emulator.emulator.clearFaults();
        await worker.close();
      }
    },
  );

  it(
    'a worker SIGKILLed during a 500-message run: every message ends final, and only messages in flight at the kill may repeat',
    { timeout: 180_000 },
    async () => {
      emulator.emulator.reset();
      // Slow the provider so the kill lands mid-run.
      emulator.emulator.injectFault({ vendor: 'twilio', count: 10_000, delayMs: 20 });
      const doomed = await spawnHerald(env, 'worker');
      await batch(500, 'killed');
      await waitFor(
        () => Promise.resolve(emulator.emulator.recorded('twilio').length >= 100),
        30_000,
        '100 sends',
      );
      doomed.child.kill('SIGKILL');
      await new Promise((resolve) => doomed.child.once('exit', resolve));
      const sentBeforeKill = emulator.emulator.recorded('twilio').length;

      const survivor = await startHerald(parseConfig(env.vars), 'worker', { logger: createLogger('silent') });
      try {
        await waitFor(
          async () => {
            const rows = await statuses('killed');
            return rows.length > 0 && rows.every((r) => FINAL.includes(r.status));
          },
          120_000,
          'all final after the kill',
        ).catch(async (error: unknown) => {
          console.log(
            'state when the wait gave up:',
            JSON.stringify(await statuses('killed')),
            JSON.stringify(await survivor.services.deps.queues.lanes.sms.checkHealth()),
          );
          throw error;
        });
        expect(await statuses('killed')).toEqual([{ status: 'SENT', n: 500 }]);
        const counts = twilioRequestsPerMessage(emulator);
        expect(counts.size).toBe(500);
        const repeated = [...counts.values()].filter((n) => n > 1).length;
        // Only a message whose provider call was made before the kill but not yet recorded can go twice
        // (at most one per in-flight job: 10 per lane); see README "Crashes and ambiguity".
        expect(repeated).toBeLessThanOrEqual(10);
        expect(sentBeforeKill).toBeGreaterThanOrEqual(100);
      } finally {
        emulator.emulator.clearFaults();
        await survivor.close();
      }
    },
  );
});
