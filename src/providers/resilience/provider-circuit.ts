import {
  BrokenCircuitError,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  handleWhen,
  IsolatedCircuitError,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import type { Redis } from 'ioredis';
import type { Logger } from '../../config/logger';
import { ProviderError } from '../provider.types';

export type CircuitLabel = 'closed' | 'open' | 'half-open';

export interface CircuitSettings {
  failureThreshold: number;
  halfOpenAfterMs: number;
  /** A half-open trial older than this is presumed dead (its process crashed) and another may start. */
  trialTimeoutMs: number;
}

export interface ProviderHealth {
  circuit: CircuitLabel;
  /** Share of failed sends over the last minute, across every process; null when nothing was sent. */
  errorRate: number | null;
  /** When an open circuit lets a trial request through (ms since epoch). */
  openUntil: number | null;
}

/**
 * `refusal` (with the vendor's code) when the circuit is open because the vendor refused the account — the failure
 * that opened it was an account refusal (ProviderError `details.accountRefused`) — rather than an outage.
 */
export type Availability = { ok: true } | { ok: false; retryInMs: number; refusal?: { code: string } };

/** What made a circuit's last counted failure: an outage, or the vendor refusing the account (with its code). */
type FailureKind = { kind: 'outage' } | { kind: 'refusal'; code: string };

interface Local {
  policy: CircuitBreakerPolicy;
  /** The Redis version this process's breaker was built from or last wrote. */
  version: number;
  /** Last Redis read, reused for a short while so a busy worker does not ask Redis before every send. */
  remote?: {
    label: CircuitLabel;
    version: number;
    changedAt: number;
    openUntil: number;
    /** Set while open: the refusal code when the failure that opened it was the vendor refusing the account. */
    refusalCode?: string;
    readAt: number;
  };
}

const REMOTE_CACHE_MS = 200;
const STATS_BUCKET_MS = 10_000;
const STATS_BUCKETS = 6;

/**
 * What counts against a circuit: retryable provider errors (5xx, 429, timeouts) and refusals of the account itself
 * (revoked credentials, suspended account: every send through it fails until it is repaired).
 */
const isOutage = (error: unknown) =>
  error instanceof ProviderError && (error.retryable || error.details.accountRefused === true);

const labelOf = (state: CircuitState): CircuitLabel =>
  state === CircuitState.Closed ? 'closed' : state === CircuitState.HalfOpen ? 'half-open' : 'open';

/**
 * One circuit breaker per provider (cockatiel: ConsecutiveBreaker, half-open after a pause), shared through Redis so
 * every API and worker process agrees: each state change a process observes is written to Redis with a version, and
 * a process that sees a newer version rebuilds its breaker from that state (cockatiel's toJSON / initialState).
 * Only retryable provider errors (5xx, 429, timeouts) and account refusals count; a rejected address says nothing
 * about the provider.
 * Send outcomes are also counted per 10 s bucket in Redis for the recent error rate `providers` reports.
 */
export class ProviderCircuits {
  private readonly local = new Map<string, Local>();
  /** The kind of each circuit's last failure seen by this process, written with the state when it opens. */
  private readonly lastFailure = new Map<string, FailureKind>();

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly settings: CircuitSettings,
    private readonly logger: Logger,
  ) {}

  private key(providerId: string) {
    return `${this.keyPrefix}:circuit:${providerId}`;
  }

  private build(providerId: string, initialState?: unknown): CircuitBreakerPolicy {
    const policy = circuitBreaker(handleWhen(isOutage), {
      halfOpenAfter: this.settings.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(this.settings.failureThreshold),
      initialState,
    });
    policy.onStateChange((state) => {
      void this.publish(providerId, policy, state).catch((error: unknown) =>
        this.logger.warn({ providerId, err: error }, 'circuit state not shared: Redis unavailable'),
      );
    });
    return policy;
  }

  private localFor(providerId: string): Local {
    let local = this.local.get(providerId);
    if (!local) {
      local = { policy: this.build(providerId), version: 0 };
      this.local.set(providerId, local);
    }
    return local;
  }

  private async publish(providerId: string, policy: CircuitBreakerPolicy, state: CircuitState) {
    const label = labelOf(state);
    const snapshot = policy.toJSON() as { ownState?: { openedAt?: number } };
    const openedAt = snapshot.ownState?.openedAt ?? 0;
    const now = Date.now();
    const [, [, version]] = (await this.redis
      .multi()
      .hset(this.key(providerId), {
        label,
        state: JSON.stringify(snapshot),
        changedAt: now,
        openUntil: label === 'open' ? openedAt + this.settings.halfOpenAfterMs : 0,
        refusalCode: label === 'open' ? this.refusalCodeOf(providerId) : '',
      })
      .hincrby(this.key(providerId), 'version', 1)
      .exec()) as [[null, number], [null, number]];
    const local = this.localFor(providerId);
    if (local.policy === policy) local.version = Math.max(local.version, version);
    this.logger.info({ providerId, circuit: label }, 'provider circuit changed');
  }

  /** Brings this process's breaker up to the state another process shared, if it is newer. */
  private async sync(providerId: string): Promise<Local> {
    const local = this.localFor(providerId);
    const now = Date.now();
    if (local.remote && now - local.remote.readAt < REMOTE_CACHE_MS) return local;
    let shared: Record<string, string>;
    try {
      shared = await this.redis.hgetall(this.key(providerId));
    } catch (error) {
      // Redis unreachable: this process's own breaker decides alone until Redis answers (a send must not wait on
      // shared state it cannot read). Cached like a read, so a busy worker does not retry Redis before every send.
      this.unshared(error);
      local.remote = { ...this.localView(providerId, local.policy), readAt: now };
      return local;
    }
    this.sharing = true;
    const version = Number(shared.version ?? 0);
    local.remote = {
      refusalCode: shared.refusalCode || undefined,
      label: (shared.label as CircuitLabel | undefined) ?? 'closed',
      version,
      changedAt: Number(shared.changedAt ?? 0),
      openUntil: Number(shared.openUntil ?? 0),
      readAt: now,
    };
    if (version > local.version && shared.state) {
      local.policy = this.build(providerId, JSON.parse(shared.state) as unknown);
      local.version = version;
    }
    return local;
  }

  private sharing = true;

  /** Logs once per outage that circuits are decided per process. */
  private unshared(error: unknown) {
    if (!this.sharing) return;
    this.sharing = false;
    this.logger.warn(
      { err: error },
      'circuit state not shared: Redis unavailable; each process decides alone',
    );
  }

  /** This process's breaker in the shape Redis holds; changedAt 0 so no other process's trial is presumed running. */
  private localView(providerId: string, policy: CircuitBreakerPolicy) {
    const label = labelOf(policy.state);
    const openedAt = (policy.toJSON() as { ownState?: { openedAt?: number } }).ownState?.openedAt ?? 0;
    return {
      label,
      version: 0,
      changedAt: 0,
      openUntil: label === 'open' ? openedAt + this.settings.halfOpenAfterMs : 0,
      refusalCode: label === 'open' ? this.refusalCodeOf(providerId) || undefined : undefined,
    };
  }

  /** The refusal code of the circuit's last failure here, or '' when it was an outage (or none was seen). */
  private refusalCodeOf(providerId: string): string {
    const last = this.lastFailure.get(providerId);
    return last?.kind === 'refusal' ? last.code : '';
  }

  /** Whether a send may go to this provider now: closed, or open long enough for this process to try once. */
  async availability(providerId: string): Promise<Availability> {
    const local = await this.sync(providerId);
    const now = Date.now();
    const remote = local.remote!;
    if (remote.label === 'half-open' && now - remote.changedAt < this.settings.trialTimeoutMs) {
      // Another process is running the trial request; wait for its verdict.
      return local.policy.state === CircuitState.HalfOpen
        ? { ok: false, retryInMs: 1_000 }
        : { ok: false, retryInMs: Math.max(1_000, remote.changedAt + this.settings.trialTimeoutMs - now) };
    }
    switch (local.policy.state) {
      case CircuitState.Closed:
        return { ok: true };
      case CircuitState.HalfOpen:
        return { ok: false, retryInMs: 1_000 };
      default: {
        const openUntil = remote.openUntil || now;
        if (openUntil <= now) return { ok: true };
        return remote.refusalCode
          ? { ok: false, retryInMs: openUntil - now, refusal: { code: remote.refusalCode } }
          : { ok: false, retryInMs: openUntil - now };
      }
    }
  }

  /** Whether this process's breaker for the provider is not closed (no Redis round trip). */
  openHere(providerId: string): boolean {
    return this.localFor(providerId).policy.state !== CircuitState.Closed;
  }

  /**
   * Runs one send through the provider's breaker. An open circuit throws CircuitOpenError without calling the
   * provider; outcomes feed the shared error rate.
   */
  async execute<T>(providerId: string, send: () => Promise<T>): Promise<T> {
    const local = this.localFor(providerId);
    try {
      // The kind of a failure is noted before the breaker counts it: a failure that opens the circuit publishes the
      // open state (with what opened it) from within the breaker, before this call's own catch runs.
      const result = await local.policy.execute(async () => {
        try {
          return await send();
        } catch (error) {
          if (isOutage(error)) {
            const { code, details } = error as ProviderError;
            this.lastFailure.set(
              providerId,
              details.accountRefused ? { kind: 'refusal', code } : { kind: 'outage' },
            );
          }
          throw error;
        }
      });
      this.count(providerId, 'ok');
      return result;
    } catch (error) {
      if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError) {
        throw new CircuitOpenError(providerId);
      }
      this.count(providerId, isOutage(error) ? 'fail' : 'ok');
      throw error;
    }
  }

  /** Outcomes counted since the last write, per stats key: a group of concurrent sends costs one MULTI, not one each. */
  private readonly unwritten = new Map<string, { ok: number; fail: number }>();

  private count(providerId: string, outcome: 'ok' | 'fail') {
    const bucket = Math.floor(Date.now() / STATS_BUCKET_MS);
    const key = `${this.keyPrefix}:pstats:${providerId}:${bucket}`;
    if (this.unwritten.size === 0) setImmediate(() => this.writeCounts());
    const counts = this.unwritten.get(key) ?? { ok: 0, fail: 0 };
    counts[outcome] += 1;
    this.unwritten.set(key, counts);
  }

  private writeCounts() {
    const transaction = this.redis.multi();
    for (const [key, counts] of this.unwritten) {
      if (counts.ok > 0) transaction.hincrby(key, 'ok', counts.ok);
      if (counts.fail > 0) transaction.hincrby(key, 'fail', counts.fail);
      transaction.pexpire(key, STATS_BUCKET_MS * (STATS_BUCKETS + 1));
    }
    this.unwritten.clear();
    transaction.exec().catch(() => undefined);
  }

  /**
   * Circuit and recent error rate of each provider, as Redis has them (what every process agrees on); while Redis is
   * unreachable, this process's own breakers and no error rate.
   */
  async health(providerIds: string[]): Promise<Record<string, ProviderHealth>> {
    const bucket = Math.floor(Date.now() / STATS_BUCKET_MS);
    const pipeline = this.redis.pipeline();
    for (const id of providerIds) {
      pipeline.hgetall(this.key(id));
      for (let i = 0; i < STATS_BUCKETS; i++)
        pipeline.hgetall(`${this.keyPrefix}:pstats:${id}:${bucket - i}`);
    }
    const now = Date.now();
    let replies: Record<string, string>[];
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) throw failed[0] as Error;
      replies = results.map(([, value]) => value as Record<string, string>);
    } catch (error) {
      // Redis unreachable: report what this process's breakers say, without an error rate.
      this.unshared(error);
      return Object.fromEntries(
        providerIds.map((id) => {
          const view = this.localView(id, this.localFor(id).policy);
          return [
            id,
            {
              circuit: view.label,
              errorRate: null,
              openUntil: view.label === 'open' ? view.openUntil : null,
            },
          ];
        }),
      );
    }
    return Object.fromEntries(
      providerIds.map((id, index) => {
        const [shared, ...buckets] = replies.slice(
          index * (STATS_BUCKETS + 1),
          (index + 1) * (STATS_BUCKETS + 1),
        );
        const ok = buckets.reduce((sum, b) => sum + Number(b.ok ?? 0), 0);
        const fail = buckets.reduce((sum, b) => sum + Number(b.fail ?? 0), 0);
        let circuit = (shared.label as CircuitLabel | undefined) ?? 'closed';
        const openUntil = Number(shared.openUntil ?? 0);
        // An open circuit whose pause is over lets the next send try: report it as half-open.
        if (circuit === 'open' && openUntil <= now) circuit = 'half-open';
        return [
          id,
          {
            circuit,
            errorRate: ok + fail === 0 ? null : fail / (ok + fail),
            openUntil: circuit === 'open' ? openUntil : null,
          },
        ];
      }),
    );
  }
}

/** The provider's circuit is open: no request was made. */
export class CircuitOpenError extends Error {
  constructor(readonly providerId: string) {
    super(`${providerId} circuit is open`);
    this.name = 'CircuitOpenError';
  }
}
