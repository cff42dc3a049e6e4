import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type { Config } from '../config/env';
import { createLogger, type Logger } from '../config/logger';
import { DependencyUnavailableError, openDatabase, postgresHint, type Orm } from '../persistence/database';
import { createDispatchQueues, type DispatchQueues } from '../jobs/dispatch.job';
import { startWorker, type RunningWorker } from '../workers/worker';
import { createProviderRegistry, type ProviderRegistry } from '../providers/registry';
import { createStatusPubSub, type StatusPubSub } from '../pubsub/pubsub';
import { createHttpApp, type HttpApp } from '../server/app';
import { buildHeraldSchema } from '../server/schema';
import { createServices, type Services } from '../services';
import { systemClock, type Clock } from '../services/clock';
import { missingConfigKeys } from '../services/config-keys-check';

export type Role = 'all' | 'api' | 'worker';

export interface Herald {
  role: Role;
  config: Config;
  services: Services;
  /** Base URL of the HTTP server (api and all roles). */
  url?: string;
  http?: HttpApp;
  worker?: RunningWorker;
  close(): Promise<void>;
}

export function redisHint(url: string): string {
  return `Redis is not answering at ${url}. Start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no (this machine) or docker compose up -d redis (laptop).`;
}

const withTimeout = <T>(promise: Promise<T>, ms: number, fallback: T) =>
  Promise.race([promise, new Promise<T>((resolve) => setTimeout(() => resolve(fallback), ms).unref())]);

async function connectRedis(url: string): Promise<Redis> {
  // No offline queue: a command while Redis is down fails at once instead of waiting (SERVICE_UNAVAILABLE).
  // Auto-pipelining: concurrent jobs' counters (circuit stats, rate limits) leave in one write per turn.
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    enableAutoPipelining: true,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (error) {
    client.disconnect();
    throw new DependencyUnavailableError(`${redisHint(url)} (${(error as Error).message})`);
  }
}

/** Starts Herald in one role: opens PostgreSQL (migrating under an advisory lock) and Redis, then the API and/or worker. */
export async function startHerald(
  config: Config,
  role: Role,
  options: { logger?: Logger; clock?: Clock } = {},
): Promise<Herald> {
  const logger = options.logger ?? createLogger(config.server.logLevel);
  const clock = options.clock ?? systemClock;
  // Connections and clients, closed last, in the reverse of their opening (see `shutdown` for what comes before).
  const closers: [string, () => Promise<void>][] = [];
  const step = async (name: string, close: () => Promise<void>) => {
    await close().catch((error: unknown) => logger.error({ err: error, name }, 'close failed'));
    logger.debug({ name }, 'closed');
  };
  const closeAll = async () => {
    for (const [name, close] of closers.reverse()) await step(name, close);
  };
  try {
    const redis = await connectRedis(config.redis.url);
    closers.push(['redis', () => Promise.resolve(redis.disconnect())]);
    let orm: Orm;
    try {
      orm = await openDatabase(config.db.url, logger, { migrate: true });
    } catch (error) {
      if (error instanceof DependencyUnavailableError) throw error;
      if ((error as { code?: string }).code === 'ECONNREFUSED')
        throw new DependencyUnavailableError(postgresHint(config.db.url));
      throw error;
    }
    closers.push(['postgres', () => orm.close()]);
    const missingKeys = await missingConfigKeys(orm.em.fork(), config.channelConfigs.keyring);
    if (missingKeys.length > 0) {
      const problem = `channel configs are encrypted with key(s) ${missingKeys.map((k) => `"${k}"`).join(', ')} that CONFIG_ENCRYPTION_KEY does not hold: their sends would fail`;
      if (config.server.nodeEnv === 'production')
        throw new DependencyUnavailableError(`Refusing to start: ${problem}`);
      logger.warn(problem);
    }
    const pubsub: StatusPubSub = await createStatusPubSub(config.redis.url, config.redis.keyPrefix, logger);
    closers.push(['pubsub', () => pubsub.close()]);
    const providers: ProviderRegistry = createProviderRegistry(config);
    closers.push(['providers', () => providers.close()]);
    const runsWorker = role !== 'api';
    const queues: DispatchQueues = createDispatchQueues(config, { isWorker: runsWorker, logger });
    await queues.ready();
    // Producers last but the clients: the API's last requests may still enqueue (the workers stop in `shutdown`).
    closers.push(['queues', () => queues.close(config.server.shutdownTimeoutMs)]);

    const redisReachable = () =>
      withTimeout(
        redis.ping().then(
          () => true,
          () => false,
        ),
        1_000,
        false,
      );
    const postgresReachable = () =>
      withTimeout(
        orm.em
          .fork()
          .getConnection()
          .execute('select 1')
          .then(
            () => true,
            () => false,
          ),
        2_000,
        false,
      );
    const services = createServices({
      config,
      logger,
      orm,
      queues,
      pubsub,
      providers,
      clock,
      redis,
      redisReachable,
    });
    // Tenants' own provider adapters (their HTTP agents), with the service-wide ones.
    closers.push(['channel config adapters', () => services.routes.close()]);

    const sandbox = [config.twilio.mode, config.sendgrid.mode, config.fcm.mode].includes('sandbox');
    if (sandbox && config.server.nodeEnv === 'development') {
      // A newcomer can send at once: example types with templates for the development tenant.
      const created = await services.types.seedStarterTypes('default');
      if (created > 0) logger.info({ created }, 'starter notification types created for tenant "default"');
    }
    const herald: Herald = {
      role,
      config,
      services,
      close: () => shutdown(herald, queues, { step, closeAll, logger }),
    };
    if (runsWorker) herald.worker = startWorker(services, queues, config, logger);
    if (role !== 'worker') {
      const schema = await buildHeraldSchema();
      const http = await createHttpApp({
        config,
        logger,
        schema,
        services,
        checks: { postgres: postgresReachable, redis: redisReachable },
      });
      await new Promise<void>((resolve, reject) => {
        http.server.once('error', reject);
        http.server.listen(config.server.port, resolve);
      });
      herald.http = http;
      const { port } = http.server.address() as AddressInfo;
      herald.url = `http://127.0.0.1:${port}`;
    }
    return herald;
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/**
 * Drains a running Herald within SHUTDOWN_TIMEOUT_MS, in this order:
 * 1. intake: the scheduler stops and its running pass ends at its next step (no more provider price look-ups, which
 *    in the sandbox would go to this very server), and the worker queues take no new job;
 * 2. in flight: HTTP requests and websockets (no new connection; idle keep-alive connections closed at once,
 *    websockets closed with 1001; requests still running after HTTP_GRACE are cut) and the running jobs (up to the
 *    timeout), side by side. When this server hosts the sandbox emulator, the jobs' vendor is this server: HTTP
 *    waits for them first, or their last requests would find it closed;
 * 3. the producers, providers, pub/sub, PostgreSQL and Redis.
 */
async function shutdown(
  herald: Herald,
  queues: DispatchQueues,
  helpers: {
    step: (name: string, close: () => Promise<void>) => Promise<void>;
    closeAll: () => Promise<void>;
    logger: Logger;
  },
): Promise<void> {
  const { step, closeAll } = helpers;
  const timeoutMs = herald.config.server.shutdownTimeoutMs;
  // bee-queue's close: from this call on no job is taken; it resolves when the running ones end (or the timeout).
  const jobsDone = herald.worker ? queues.stopWorkers(timeoutMs) : Promise.resolve();
  if (herald.worker) await step('scheduler', () => herald.worker!.close());
  const http = herald.http;
  if (http && !(http.emulator && herald.worker))
    await Promise.all([step('http', () => http.close()), step('jobs', () => jobsDone)]);
  else {
    await step('jobs', () => jobsDone);
    if (http) await step('http', () => http.close());
  }
  await closeAll();
}
