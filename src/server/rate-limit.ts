import type { ApolloServerPlugin } from '@apollo/server';
import {
  getOperationAST,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Context } from 'graphql-ws';
import type { Redis } from 'ioredis';
import { Counter } from 'prom-client';
import { RateLimiterRedis, RateLimiterRes, RLWrapperTimeouts } from 'rate-limiter-flexible';
import type { Config } from '../config/env';
import type { Logger } from '../config/logger';
import type { GraphQLContext } from '../resolvers';
import type { Caller } from '../services';
import { RateLimitedError } from '../services/errors';

/** Operation classes of the API's rate limits (seeds/001 "Rate Limiting"); `service` is the per-tenant backend budget. */
export type OperationClass = 'general' | 'sending' | 'batch' | 'analytics';
type Budget = OperationClass | 'service';

/** Root fields outside `general`. Analytics fields do not exist yet; their class is kept so they are limited on arrival. */
const ROOT_FIELD_CLASS: Readonly<Record<string, OperationClass>> = {
  sendNotification: 'sending',
  cancelNotification: 'sending',
  recordMessageAction: 'sending',
  sendNotifications: 'batch',
  communicationSummary: 'analytics',
  userEngagement: 'analytics',
  channelEffectiveness: 'analytics',
  costReport: 'analytics',
  deliveryTrends: 'analytics',
  dashboardReport: 'analytics',
  performanceReport: 'analytics',
};

/** The scope that marks a backend caller: one budget per tenant instead of per person and class. */
export const SERVICE_SCOPE = 'service';

const WINDOW_SECONDS = 60;
/** A Redis that hangs (rather than refuses) must not hold requests: past this, the request goes through uncounted. */
const REDIS_TIMEOUT_MS = 500;

/** Budgets remembered as spent, at most: past it, expired ones are swept, then the oldest forgotten. */
const MAX_SPENT_ENTRIES = 10_000;

/** Requests an operation is charged, per class: one per root field it runs. */
export type OperationCharges = Map<OperationClass, number>;

/**
 * What an operation costs in the rate limits: one request per root field it runs, by class (through inline
 * fragments and fragment spreads). Aliases count: `{ a: sendNotification b: sendNotification }` is two `sending`
 * requests, or fifteen aliased sends would be one request. Fields GraphQL merges (the same response key twice, a
 * fragment spread twice) run once and count once; introspection fields (`__typename`) count nothing, but every
 * document is at least one `general` request.
 */
export function operationCharges(
  document: DocumentNode,
  operation: OperationDefinitionNode,
): OperationCharges {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const responseKeys = new Map<string, OperationClass>();
  const seen = new Set<string>();
  const walk = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (!name.startsWith('__'))
          responseKeys.set(selection.alias?.value ?? name, ROOT_FIELD_CLASS[name] ?? 'general');
      } else if (selection.kind === Kind.INLINE_FRAGMENT) walk(selection.selectionSet);
      else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) walk(fragment.selectionSet);
      }
    }
  };
  walk(operation.selectionSet);
  const charges: OperationCharges = new Map();
  for (const operationClass of responseKeys.values())
    charges.set(operationClass, (charges.get(operationClass) ?? 0) + 1);
  if (charges.size === 0) charges.set('general', 1);
  return charges;
}

/** One counted request: the budget it was charged to and what is left of it. */
export interface RateDecision {
  allowed: boolean;
  budget: Budget;
  /** Requests per minute of that budget. */
  limit: number;
  remaining: number;
  /** Seconds until the budget's window resets (rounded up, at least 1). */
  resetSeconds: number;
}

/**
 * `X-RateLimit-*` headers of a decision. `X-RateLimit-Reset` is in seconds from now (delta-seconds, like
 * `Retry-After` and the IETF draft draft-ietf-httpapi-ratelimit-headers), so clients need no synchronised clock.
 */
export function rateLimitHeaders(decision: RateDecision): [string, string][] {
  const headers: [string, string][] = [
    ['X-RateLimit-Limit', String(decision.limit)],
    ['X-RateLimit-Remaining', String(decision.remaining)],
    ['X-RateLimit-Reset', String(decision.resetSeconds)],
  ];
  if (!decision.allowed) headers.push(['Retry-After', String(decision.resetSeconds)]);
  return headers;
}

/** The caller-facing RATE_LIMITED error naming the budget; `http` makes Apollo answer 429. */
export function rateLimitedError(decision: RateDecision, http?: { status: number }): RateLimitedError {
  const who = decision.budget === SERVICE_SCOPE ? 'per tenant (service token)' : 'per tenant and user';
  const what = decision.budget === SERVICE_SCOPE ? 'requests' : `${decision.budget} requests`;
  return new RateLimitedError(
    `rate limit exceeded: ${decision.limit} ${what} per minute ${who}; retry in ${decision.resetSeconds} s`,
    {
      limit: decision.limit,
      limitClass: decision.budget,
      retryAfterSeconds: decision.resetSeconds,
    },
    http,
  );
}

/**
 * GraphQL request budgets in Redis (rate-limiter-flexible, fixed one-minute windows shared by every API process).
 * A caller with the `service` scope has one budget per tenant; any other caller one per tenant, `sub` and class.
 * When Redis cannot count (down, not ready, or slower than 500 ms) the request is let through and
 * `herald_rate_limit_unavailable_total` counts it: losing Redis must not turn into refusing every caller.
 * A budget found spent is remembered in memory until its window resets, and refused from there without asking
 * Redis again: a caller flooding past its budget (over HTTP, or a websocket's subscribe/complete churn) costs a map
 * lookup per refusal, not a round trip.
 */
export class ApiRateLimiter {
  /** Requests let through uncounted because Redis could not be reached. */
  readonly unavailableTotal = new Counter({
    name: 'herald_rate_limit_unavailable_total',
    help: 'GraphQL requests let through without a rate limit because Redis could not count them',
    registers: [],
  });
  /** Requests refused, by budget. */
  readonly refusedTotal = new Counter({
    name: 'herald_rate_limited_total',
    help: 'GraphQL requests refused with RATE_LIMITED, by budget',
    labelNames: ['budget'],
    registers: [],
  });
  private readonly limiters = new Map<Budget, { limiter: RLWrapperTimeouts; points: number }>();
  private redisDown = false;
  /** Spent budgets by `budget \n key`: when their window resets (ms since epoch) and the refusal they gave. */
  private readonly spent = new Map<string, { until: number; decision: RateDecision }>();

  private readonly settings: Config['rateLimit'];

  constructor(
    config: Pick<Config, 'rateLimit' | 'redis'>,
    redis: Redis,
    private readonly logger: Logger,
  ) {
    this.settings = config.rateLimit;
    const keyPrefix = config.redis.keyPrefix;
    for (const [budget, points] of Object.entries(this.settings.perMinute) as [Budget, number][]) {
      const store = new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${keyPrefix}:api-rate:${budget}`,
        points,
        duration: WINDOW_SECONDS,
        // ioredis not connected: fail at once (and let through) rather than issue a command.
        rejectIfRedisNotReady: true,
      });
      this.limiters.set(budget, {
        limiter: new RLWrapperTimeouts({ limiter: store, timeoutMs: REDIS_TIMEOUT_MS }),
        points,
      });
    }
  }

  /**
   * Charges an operation's requests to the budgets the caller names: a `service` caller's tenant budget with all of
   * them, anyone else's per-class budgets with that class's. Resolves the most constraining decision (a refusal if
   * any budget is spent), or undefined when limits are off or Redis could not count. Never rejects.
   */
  async check(caller: Caller, operation: OperationCharges): Promise<RateDecision | undefined> {
    if (!this.settings.enabled) return undefined;
    const charges = this.chargesOf(caller, operation);
    const known = this.knownSpent(charges);
    if (known) {
      this.refusedTotal.inc({ budget: known.budget });
      return known;
    }
    const decisions = await Promise.all(
      charges.map(([budget, key, points]) => this.charge(budget, key, points)),
    );
    const counted = decisions.filter((d): d is RateDecision => d !== undefined);
    const refused = counted.filter((d) => !d.allowed).sort((a, b) => b.resetSeconds - a.resetSeconds);
    const worst = refused[0] ?? counted.sort((a, b) => a.remaining - b.remaining)[0];
    if (worst && !worst.allowed) this.refusedTotal.inc({ budget: worst.budget });
    return worst;
  }

  /**
   * The refusal an operation gets without asking Redis, when a budget it would be charged to is known spent (see
   * the class comment); undefined otherwise, or when limits are off. Synchronous, and safe on a document not yet
   * validated: graphql-ws calls it right after parsing, so a socket past its budget is not validated again and again.
   */
  refuseIfSpent(
    caller: Caller,
    document: DocumentNode,
    operationName: string | null | undefined,
  ): RateLimitedError | undefined {
    if (!this.settings.enabled || this.spent.size === 0) return undefined;
    const operation = getOperationAST(document, operationName);
    if (!operation) return undefined;
    const known = this.knownSpent(this.chargesOf(caller, operationCharges(document, operation)));
    if (!known) return undefined;
    this.refusedTotal.inc({ budget: known.budget });
    return rateLimitedError(known);
  }

  private chargesOf(caller: Caller, operation: OperationCharges): [Budget, string, number][] {
    const tenant = encodeURIComponent(caller.tenantId);
    if (caller.scopes.includes(SERVICE_SCOPE)) {
      const total = [...operation.values()].reduce((sum, n) => sum + n, 0);
      return [['service', tenant, total]];
    }
    return [...operation].map(([c, n]) => [c, `${tenant}:${encodeURIComponent(caller.subject)}`, n]);
  }

  /** The remembered refusal of the first of `charges` still spent, its reset counted from now. */
  private knownSpent(charges: [Budget, string, number][]): RateDecision | undefined {
    if (this.spent.size === 0) return undefined;
    const now = Date.now();
    for (const [budget, key] of charges) {
      const name = `${budget}\n${key}`;
      const entry = this.spent.get(name);
      if (!entry) continue;
      if (entry.until <= now) {
        this.spent.delete(name);
        continue;
      }
      return {
        ...entry.decision,
        remaining: 0,
        resetSeconds: Math.max(1, Math.ceil((entry.until - now) / 1000)),
      };
    }
    return undefined;
  }

  private rememberSpent(budget: Budget, key: string, msBeforeNext: number, decision: RateDecision) {
    const now = Date.now();
    if (this.spent.size >= MAX_SPENT_ENTRIES) {
      for (const [name, entry] of this.spent) if (entry.until <= now) this.spent.delete(name);
      // Still full: forget the oldest (Map keeps insertion order); they are asked of Redis again, never let through.
      for (const name of this.spent.keys()) {
        if (this.spent.size < MAX_SPENT_ENTRIES) break;
        this.spent.delete(name);
      }
    }
    this.spent.set(`${budget}\n${key}`, { until: now + msBeforeNext, decision });
  }

  /**
   * The per-socket checks of graphql-ws (it bypasses Apollo's plugins): at most `maxSubscriptionsPerSocket`
   * operations running on one socket, then the same budgets as HTTP. Returns the error to send, or undefined.
   */
  async checkSocketOperation(
    ctx: Context,
    caller: Caller,
    document: DocumentNode,
    operationName: string | null | undefined,
  ): Promise<RateLimitedError | undefined> {
    const cap = this.settings.maxSubscriptionsPerSocket;
    // graphql-ws registers the new operation's id before onSubscribe, so it is part of this count.
    if (Object.keys(ctx.subscriptions).length > cap)
      return new RateLimitedError(
        `too many operations on one websocket: at most ${cap} at once (WS_MAX_SUBSCRIPTIONS_PER_SOCKET); complete one or open another socket`,
        { limit: cap, limitClass: 'subscriptionsPerSocket' },
      );
    const operation = getOperationAST(document, operationName);
    if (!operation) return undefined;
    const decision = await this.check(caller, operationCharges(document, operation));
    return decision && !decision.allowed ? rateLimitedError(decision) : undefined;
  }

  private async charge(budget: Budget, key: string, points: number): Promise<RateDecision | undefined> {
    const entry = this.limiters.get(budget)!;
    const decide = (res: RateLimiterRes, allowed: boolean): RateDecision => ({
      allowed,
      budget,
      limit: entry.points,
      remaining: res.remainingPoints,
      resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
    });
    try {
      const res = await entry.limiter.consume(key, points);
      this.markRedis(false);
      return decide(res, true);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        this.markRedis(false);
        const decision = decide(rejection, false);
        this.rememberSpent(budget, key, rejection.msBeforeNext, decision);
        return decision;
      }
      this.unavailableTotal.inc();
      this.markRedis(true, rejection);
      return undefined;
    }
  }

  /** Logs when counting stops and starts again, not once per request. */
  private markRedis(down: boolean, error?: unknown) {
    if (down === this.redisDown) return;
    this.redisDown = down;
    if (down)
      this.logger.warn(
        { err: error },
        'rate limits suspended: Redis cannot count requests, letting them through',
      );
    else this.logger.info('rate limits counting again');
  }
}

/** Apollo plugin: after the operation is known (and the caller authenticated), charge it and set the headers. */
export function rateLimitPlugin(limiter: ApiRateLimiter): ApolloServerPlugin<GraphQLContext> {
  return {
    requestDidStart: () =>
      Promise.resolve({
        async didResolveOperation({ document, operation, contextValue, response }) {
          if (!operation) return;
          const decision = await limiter.check(contextValue.caller, operationCharges(document, operation));
          if (!decision) return;
          for (const [name, value] of rateLimitHeaders(decision)) response.http.headers.set(name, value);
          if (!decision.allowed) throw rateLimitedError(decision, { status: 429 });
        },
      }),
  };
}
