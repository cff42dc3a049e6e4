import type { Redis } from 'ioredis';
import type { Config } from '../config/env';
import type { Logger } from '../config/logger';
import type { Orm } from '../persistence/database';
import type { DispatchQueues } from '../jobs/dispatch.job';
import type { ProviderRegistry } from '../providers/registry';
import type { StatusPubSub } from '../pubsub/pubsub';
import type { Clock } from './clock';
import type { BudgetService } from './budget.service';
import type { PolicyService } from './policy.service';

/** Everything the domain services need, built once per process (runtime/herald.ts). */
export interface ServiceDeps {
  config: Config;
  logger: Logger;
  orm: Orm;
  queues: DispatchQueues;
  pubsub: StatusPubSub;
  providers: ProviderRegistry;
  clock: Clock;
  /** A Redis command connection (no offline queue) for shared counters such as send rates. */
  redis: Redis;
  /** Answers whether Redis is reachable right now (bounded wait). */
  redisReachable(): Promise<boolean>;
}

/** Deps plus the policy every sending path consults. */
export interface DomainDeps extends ServiceDeps {
  policy: PolicyService;
  budgets: BudgetService;
}

/** Who is calling: from the JWT, or tenant "default" with every scope when auth is off. */
export interface Caller {
  tenantId: string;
  subject: string;
  scopes: string[];
  /** When the caller's token expires (ms since epoch); absent with auth off. Open websockets close then. */
  expiresAt?: number;
  /**
   * Not a token holder: the development caller (auth off) or Herald itself (starter types). The audit trail records
   * such changes with actor null instead of the placeholder `subject`.
   */
  anonymous?: boolean;
  /** The id of the request this call serves (x-request-id or a fresh UUID; one per websocket operation). */
  requestId?: string;
}
