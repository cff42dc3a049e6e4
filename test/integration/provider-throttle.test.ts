import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ProviderThrottle, type SendClass } from '../../src/providers/resilience/provider-throttle';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const RATE = 20;
/** Rounds of the race, each on its own provider key: one lucky draw must not make the old limiter pass. */
const PROVIDERS = ['p0', 'p1', 'p2', 'p3'];

/** Two ProviderThrottles on their own Redis connections stand for two worker processes sharing one provider rate. */
describe('ProviderThrottle precedence across processes (real Redis)', () => {
  const prefix = `herald-test-throttle-${randomBytes(4).toString('hex')}`;
  const clients = [new Redis(REDIS_URL), new Redis(REDIS_URL)];
  const limits = Object.fromEntries(PROVIDERS.map((p) => [p, RATE]));
  const [bulkWorker, criticalWorker] = clients.map((redis) => new ProviderThrottle(redis, prefix, limits));
  afterAll(async () => {
    const keys = await clients[0].keys(`${prefix}:*`);
    if (keys.length > 0) await clients[0].del(...keys);
    clients.forEach((c) => c.disconnect());
  });

  it("a CRITICAL send in one process takes the next token before the other process's waiting bulk sends", async () => {
    const pending: Promise<void>[] = [];
    for (const provider of PROVIDERS) {
      const granted: string[] = [];
      const take = (who: string, throttle: ProviderThrottle, sendClass: SendClass) =>
        throttle.acquire(provider, sendClass).then((slot) => {
          expect(slot).toEqual({ ok: true });
          granted.push(who);
        });
      const first = Array.from({ length: RATE }, (_, i) => take(`bulk ${i}`, bulkWorker, 'bulk'));
      await Promise.all(first);
      // The window's tokens are gone. Bulk sends keep arriving while it lasts, before and after the CRITICAL one,
      // and all of them wait for the next window.
      const arrive = async (from: number, count: number) => {
        for (let i = from; i < from + count; i++) {
          pending.push(take(`bulk ${i}`, bulkWorker, 'bulk'));
          await new Promise((r) => setTimeout(r, 2));
        }
      };
      await arrive(RATE, RATE);
      const grantedBefore = granted.length;
      const critical = take('critical', criticalWorker, 'critical');
      await arrive(2 * RATE, 2 * RATE);
      await critical;
      // It waited only for the window it arrived in (a few ms old; a window lasts 1 s): the next token was its own,
      // ahead of every bulk send waiting in the other process.
      expect(granted.indexOf('critical'), provider).toBe(grantedBefore);
    }
    await Promise.all(pending);
    // Once the CRITICAL sends went, nothing is left to hold bulk sends back.
    for (const provider of PROVIDERS)
      expect(await clients[0].exists(`${prefix}:rate:${provider}:critical-waiting`)).toBe(0);
  }, 60_000);
});
