import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/** A wait up to this long holds the job; a longer one sends the message back to PostgreSQL with a due time. */
const MAX_WAIT_MS = 1_000;

/**
 * How long the "a CRITICAL send is waiting" mark outlives its last refresh. A waiting CRITICAL send refreshes it at
 * least once per rate window (1 s), so it lapses only when the process holding it died.
 */
const WAITING_MARK_TTL_MS = 3_000;

/** How often a bulk send that stepped aside for a waiting CRITICAL send looks again. */
const STEP_ASIDE_POLL_MS = 20;

/** Deletes the mark when the last waiting CRITICAL send leaves, so a lapsed mark never goes negative. */
const LEAVE_SCRIPT = `local n = redis.call('decr', KEYS[1]) if n <= 0 then redis.call('del', KEYS[1]) end return n`;

export type Slot = { ok: true } | { ok: false; retryInMs: number };

/** CRITICAL sends go through a provider's rate before bulk ones; everything else is bulk. */
export type SendClass = 'critical' | 'bulk';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(1, ms)));

/**
 * Per-provider send rates (e.g. Twilio's 1 message/s per long code), counted in Redis so every worker process shares
 * the same budget (rate-limiter-flexible). Only the throttled provider waits; other providers' lanes go on.
 *
 * Precedence (not a reserved share, so bulk may use the whole rate while no CRITICAL send waits): a CRITICAL send
 * that finds the rate used up marks itself waiting in Redis (a counter per provider, shared by every process) and
 * takes the next token; while the mark is up, bulk sends take none and look again every STEP_ASIDE_POLL_MS. So a
 * CRITICAL send waits at most for the tokens already taken when it arrived (the current window), never behind bulk
 * sends that are themselves waiting. A bulk send that looked just before the mark appeared may still take one token.
 * While Redis is unreachable, precedence holds within each process (a local count), as the rate itself does.
 */
export class ProviderThrottle {
  private readonly limiters = new Map<string, RateLimiterRedis>();
  /** CRITICAL sends of this process waiting for a token, per throttle key. */
  private readonly waitingHere = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly limits: Record<string, number>,
  ) {
    for (const providerId of Object.keys(limits)) this.limiterFor(providerId, providerId);
  }

  /**
   * The limiter of a throttle key at the rate of `rateOf` (a provider id in PROVIDER_RATE_LIMITS); undefined when
   * that provider is unlimited. A tenant's channel config has no rate setting of its own: it is throttled at its
   * vendor's rate (the one the service-wide provider of the same id uses), counted under its own key, since its
   * account's rate is its own and not shared with the service-wide one.
   */
  private limiterFor(key: string, rateOf: string): RateLimiterRedis | undefined {
    const existing = this.limiters.get(key);
    if (existing) return existing;
    const perSecond = this.limits[rateOf];
    if (!(perSecond > 0)) return undefined;
    const limiter = new RateLimiterRedis({
      storeClient: this.redis,
      keyPrefix: `${this.keyPrefix}:rate:${key}`,
      points: perSecond,
      duration: 1,
      // While Redis is unreachable each process counts on its own (rate-limiter-flexible's insurance limiter)
      // instead of failing the send: the provider's rate holds per process, not across them, until Redis returns.
      insuranceLimiter: new RateLimiterMemory({ points: perSecond, duration: 1 }),
    });
    this.limiters.set(key, limiter);
    return limiter;
  }

  /**
   * Takes one send slot of the key's rate, waiting up to MAX_WAIT_MS per try. `providerId` is the throttle key: a
   * provider id, or a tenant config's route key (`config:<id>`) with `rateOf` its vendor's provider id. Resolves
   * `{ ok: false, retryInMs }` when the rate is used up for longer; never rejects for Redis trouble (see the class
   * comment).
   */
  async acquire(providerId: string, sendClass: SendClass = 'bulk', rateOf = providerId): Promise<Slot> {
    const limiter = this.limiterFor(providerId, rateOf);
    if (!limiter) return { ok: true };
    if (sendClass === 'critical') return this.acquireCritical(providerId, limiter);
    for (;;) {
      if (await this.criticalWaiting(providerId)) {
        await sleep(STEP_ASIDE_POLL_MS);
        continue;
      }
      const slot = await this.tryConsume(limiter);
      if (slot !== 'wait') return slot;
    }
  }

  private async acquireCritical(providerId: string, limiter: RateLimiterRedis): Promise<Slot> {
    const key = this.waitingKey(providerId);
    let marked = false;
    let markedInRedis = false;
    try {
      for (;;) {
        const slot = await this.tryConsume(limiter, async () => {
          // Up before the wait, refreshed on every try: bulk sends step aside from the next token on.
          if (!marked) {
            marked = true;
            this.waitingHere.set(providerId, (this.waitingHere.get(providerId) ?? 0) + 1);
          }
          try {
            if (!markedInRedis) {
              await this.redis.multi().incr(key).pexpire(key, WAITING_MARK_TTL_MS).exec();
              markedInRedis = true;
            } else await this.redis.pexpire(key, WAITING_MARK_TTL_MS);
          } catch {
            // Redis unreachable: precedence holds in this process only (waitingHere).
          }
        });
        if (slot !== 'wait') return slot;
      }
    } finally {
      if (marked) await this.leave(providerId, markedInRedis);
    }
  }

  /**
   * One try: the slot, a refusal to hand back (the wait is too long), or 'wait' after sleeping until the next window.
   * `beforeWait` runs when the rate is used up, before the sleep.
   */
  private async tryConsume(
    limiter: RateLimiterRedis,
    beforeWait?: () => Promise<void>,
  ): Promise<Slot | 'wait'> {
    try {
      await limiter.consume('send');
      return { ok: true };
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      if (rejection.msBeforeNext > MAX_WAIT_MS) return { ok: false, retryInMs: rejection.msBeforeNext };
      await beforeWait?.();
      await sleep(rejection.msBeforeNext);
      return 'wait';
    }
  }

  private waitingKey(providerId: string) {
    return `${this.keyPrefix}:rate:${providerId}:critical-waiting`;
  }

  /** Whether a CRITICAL send of any process is waiting for this provider's next token. */
  private async criticalWaiting(providerId: string): Promise<boolean> {
    if ((this.waitingHere.get(providerId) ?? 0) > 0) return true;
    try {
      return Number(await this.redis.get(this.waitingKey(providerId))) > 0;
    } catch {
      return false;
    }
  }

  private async leave(providerId: string, markedInRedis: boolean): Promise<void> {
    const left = (this.waitingHere.get(providerId) ?? 1) - 1;
    if (left > 0) this.waitingHere.set(providerId, left);
    else this.waitingHere.delete(providerId);
    if (markedInRedis)
      await this.redis.eval(LEAVE_SCRIPT, 1, this.waitingKey(providerId)).catch(() => undefined);
  }
}
