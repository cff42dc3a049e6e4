import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/env';
import { createLogger } from '../../src/config/logger';
import { startEmulatorServer, type RunningEmulator } from '../../src/sandbox/emulator-server';
import { startHerald, type Herald } from '../../src/runtime/herald';
import { SendNotificationDocument } from '../support/generated/graphql';
import { execute, executeOk } from '../support/graphql';
import { startOwnPostgres, startOwnRedis, type OwnPostgres, type OwnRedis } from '../support/own-services';
import { freePort, isolatedEnv } from '../support/stack';

const input = {
  userId: 'u-down',
  type: 'adhoc',
  channels: ['SMS' as const],
  to: { phone: '+14155552671' },
  content: { body: 'hello' },
};

/** PostgreSQL and Redis of this test's own, stopped mid-test: the API refuses what it cannot store. */
describe('when PostgreSQL or Redis is down', () => {
  let postgres: OwnPostgres;
  let redis: OwnRedis;
  let emulator: RunningEmulator;
  let herald: Herald;
  let url: string;

  beforeAll(async () => {
    [postgres, redis, emulator] = await Promise.all([
      startOwnPostgres(),
      startOwnRedis(),
      startEmulatorServer(),
    ]);
    const port = await freePort();
    const env = isolatedEnv(emulator.url, {
      PORT: String(port),
      DATABASE_URL: postgres.url,
      REDIS_URL: redis.url,
    });
    herald = await startHerald(parseConfig(env.vars), 'api', { logger: createLogger('silent') });
    url = `${herald.url}/graphql`;
  });
  afterAll(async () => {
    await herald?.close();
    await redis?.stop();
    await postgres?.destroy();
    await emulator?.close();
  });

  const countNotifications = async () => {
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    const { rows } = await client.query<{ n: number }>('select count(*)::int n from notification');
    await client.end();
    return rows[0].n;
  };

  it('accepts while both answer', async () => {
    await executeOk(url, SendNotificationDocument, { input });
    expect(await countNotifications()).toBe(1);
    expect((await fetch(`${herald.url}/ready`)).status).toBe(200);
  });

  it('Redis down: SERVICE_UNAVAILABLE, nothing stored, /ready degraded', async () => {
    await redis.stop();
    const result = await execute(url, SendNotificationDocument, { input });
    expect(result.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    expect(await countNotifications()).toBe(1);
    const ready = await fetch(`${herald.url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'degraded', services: { postgres: 'up', redis: 'down' } });
    await redis.start();
  });

  it('PostgreSQL down: SERVICE_UNAVAILABLE, and /ready degraded; back up, it accepts again', async () => {
    await postgres.stop();
    const result = await execute(url, SendNotificationDocument, { input });
    expect(result.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    expect(result.errors?.[0]?.message).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    const ready = await fetch(`${herald.url}/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { services: unknown }).services).toEqual({
      postgres: 'down',
      redis: 'up',
    });
    await postgres.start();
    let accepted = false;
    for (let i = 0; i < 50 && !accepted; i += 1) {
      const attempt = await execute(url, SendNotificationDocument, { input });
      accepted = !attempt.errors;
      if (!accepted) await new Promise((r) => setTimeout(r, 100));
    }
    expect(accepted).toBe(true);
    expect(await countNotifications()).toBe(2);
  });
});
