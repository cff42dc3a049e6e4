import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/** A wait up to this long holds the job; a longer one sends the message back to PostgreSQL with a due time. */
const MAX_WAIT_MS = 1_000;

export type Slot = { ok: true } | { ok: false; retryInMs: number };

/**
 * Per-provider send rates (e.g. Twilio's 1 message/s per long code), counted in Redis so every worker process shares
 * the same budget (rate-limiter-flexible). Only the throttled provider waits; other providers' lanes go on.
 */
export class ProviderThrottle {
  private readonly limiters = new Map<string, RateLimiterRedis>();

  constructor(redis: Redis, keyPrefix: string, limits: Record<string, number>) {
    for (const [providerId, perSecond] of Object.entries(limits)) {
      if (!(perSecond > 0)) continue;
      this.limiters.set(
        providerId,
        new RateLimiterRedis({
          storeClient: redis,
          keyPrefix: `${keyPrefix}:rate:${providerId}`,
          points: perSecond,
          duration: 1,
          // While Redis is unreachable each process counts on its own (rate-limiter-flexible's insurance limiter)
          // instead of failing the send: the provider's rate holds per process, not across them, until Redis returns.
          insuranceLimiter: new RateLimiterMemory({ points: perSecond, duration: 1 }),
        }),
      );
    }
  }

  async acquire(providerId: string): Promise<Slot> {
    const limiter = this.limiters.get(providerId);
    if (!limiter) return { ok: true };
    for (;;) {
      try {
        await limiter.consume('send');
        return { ok: true };
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        if (rejection.msBeforeNext > MAX_WAIT_MS) return { ok: false, retryInMs: rejection.msBeforeNext };
        await new Promise((resolve) => setTimeout(resolve, Math.max(1, rejection.msBeforeNext)));
      }
    }
  }
}
