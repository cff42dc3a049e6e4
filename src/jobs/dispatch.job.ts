import Queue from 'bee-queue';
import type { Config } from '../config/env';
import type { Logger } from '../config/logger';

interface LuaCache {
  buildCache(client: unknown): Promise<unknown>;
}
// bee-queue's own script loader: a Redis restart empties the script cache and every EVALSHA then fails (NOSCRIPT).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lua = require('bee-queue/lib/lua') as LuaCache;

const isNoScript = (error: unknown) => /NOSCRIPT/.test((error as Error)?.message ?? '');

/** node_redis v3 (bee-queue's client): `ready` is false from a lost connection until the next handshake. */
const isConnected = (queue: Queue<DispatchJob>) =>
  (queue as unknown as { client?: { ready?: boolean } }).client?.ready === true;

/** The longest timer Node accepts (2^31 - 1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** Redis refused or could not take the jobs: the caller answers SERVICE_UNAVAILABLE or leaves rows to the scheduler. */
export class QueueUnavailableError extends Error {
  constructor(lane: string) {
    super(`Redis is not connected: the ${lane} dispatch queue cannot take jobs`);
    this.name = 'QueueUnavailableError';
  }
}

type Listenable = { on(event: 'ready', listener: () => void): void };
const commandClient = (queue: Queue<DispatchJob>) => (queue as unknown as { client: Listenable }).client;

/**
 * Calls `listener` each time the queue's command connection is ready again. Only once the queue is ready: its client
 * exists from then on, and node_redis emits 'ready' once per connection, so every later one is a reconnect.
 */
function onReconnect(queue: Queue<DispatchJob>, listener: () => void): void {
  commandClient(queue).on('ready', listener);
}

/** Reloads the scripts whenever the queue's command connection comes back, so queues survive a Redis restart. */
function reloadScriptsOnReconnect(queue: Queue<DispatchJob>): void {
  onReconnect(queue, () => void lua.buildCache(commandClient(queue)).catch(() => undefined));
}

/**
 * bee-queue 2.0.0 doubles one delay per queue (`_redisFailureRetryDelay`) each time a worker loop's BRPOPLPUSH fails,
 * and every concurrent loop fails at once when Redis goes: in one outage it passed 2^31 ms, where Node fires a timer
 * at once (TimeoutOverflowWarning). The 'error' event comes just before the doubling, so capping here keeps each
 * retry within 2 s.
 */
function clampRetryDelay(queue: Queue<DispatchJob>): void {
  const internals = queue as unknown as { _redisFailureRetryDelay?: number };
  if ((internals._redisFailureRetryDelay ?? 0) > 1_000) internals._redisFailureRetryDelay = 1_000;
}

/** Payloads carry ids only: PostgreSQL is the record, Redis is the transport. */
export interface DispatchJob {
  messageId: string;
  tenantId: string;
  attempt: number;
}

/** One lane per channel plus one for CRITICAL across channels, so a bulk run never delays a critical message. */
export const LANES = ['critical', 'email', 'sms', 'whatsapp', 'push'] as const;
export type Lane = (typeof LANES)[number];

export const laneFor = (channel: string, priority: string): Lane =>
  priority === 'CRITICAL' ? 'critical' : (channel.toLowerCase() as Lane);

export const dispatchJobId = (messageId: string, attempt: number) => `msg:${messageId}:${attempt}`;

export const JOB_TIMEOUT_MS = 30_000;

/** Jobs per bee-queue saveAll call (one MULTI each); the event loop gets a turn between them. */
const SAVE_CHUNK = 1_000;

/** How often workers look for jobs left "active" by a worker that died (and how long a live one may go silent). */
export const STALL_CHECK_MS = 5_000;

export interface Enqueueable {
  id: string;
  tenantId: string;
  attempt: number;
  channel: string;
  priority: string;
}

export interface DispatchQueues {
  /** Producers: enqueue jobs and read queue state. They stay open until `close`, for the API's last requests. */
  lanes: Record<Lane, Queue<DispatchJob>>;
  /** Worker queues that process the jobs (only where this process runs the worker); `stopWorkers` closes them. */
  workers?: Record<Lane, Queue<DispatchJob>>;
  /** Resolves once every lane is connected and its scripts are loaded. */
  ready(): Promise<void>;
  /**
   * Enqueues one job per message, grouped by lane; a job id that already exists is not added twice. Rejects at once
   * (QueueUnavailableError) while a lane's connection is down rather than waiting in node_redis' offline queue.
   */
  enqueue(messages: Enqueueable[]): Promise<void>;
  /**
   * For rows already committed QUEUED: enqueues them, and when Redis refuses, logs and leaves them to the scheduler,
   * which re-enqueues QUEUED rows older than REQUEUE_AFTER_MS under the same job id. Never rejects, so a Redis
   * outage never undoes or hides a status PostgreSQL has recorded.
   */
  enqueueAfterCommit(messages: Enqueueable[], what: string): Promise<void>;
  /**
   * Shutdown, first step: the worker queues take no job from the moment this is called, and the promise resolves once
   * the jobs they run have finished, or after `timeoutMs` (those left unfinished stay "active" in Redis: the next
   * worker's stalled-job check hands them back, and their rows' leases expire). The producers stay open.
   */
  stopWorkers(timeoutMs: number): Promise<void>;
  /** Shutdown, last step: stops the workers (if not yet) and closes the producers' connections. */
  close(timeoutMs: number): Promise<void>;
}

export function createDispatchQueues(
  config: Config,
  options: { isWorker: boolean; logger: Logger },
): DispatchQueues {
  // Producers and workers are separate Queue instances (bee-queue's own pattern): closing a worker queue stops its
  // intake and waits for its jobs, then quits its connections, while the API may still be enqueueing.
  const make = (lane: Lane, isWorker: boolean) =>
    new Queue<DispatchJob>(`dispatch:${lane}`, {
      prefix: `${config.redis.keyPrefix}:bq`,
      // bee-queue accepts only its own node-redis v3 client or its settings.
      // Reconnect every 2 s at most, for as long as the outage lasts: node_redis' default backoff grows without bound
      // and gives up for good after an hour (connect_timeout), which would leave the queue dead once Redis returned.
      redis: {
        url: config.redis.url,
        retry_strategy: ({ attempt }: { attempt: number }) => Math.min(attempt * 100, 2_000),
        connect_timeout: MAX_TIMER_MS,
      },
      isWorker,
      getEvents: false,
      sendEvents: false,
      storeJobs: false,
      removeOnSuccess: true,
      removeOnFailure: true,
      activateDelayedJobs: false,
      // Attempts and retries are counted in PostgreSQL; bee-queue only carries.
      stallInterval: STALL_CHECK_MS,
    });
  const makeAll = (isWorker: boolean) =>
    Object.fromEntries(LANES.map((lane) => [lane, make(lane, isWorker)])) as Record<Lane, Queue<DispatchJob>>;
  const lanes = makeAll(false);
  const workers = options.isWorker ? makeAll(true) : undefined;
  const every = [...Object.entries(lanes), ...Object.entries(workers ?? {})];
  // Without a listener a connection error would crash the process; bee-queue reconnects by itself. Logged once per
  // outage and lane (every reconnect attempt of its three connections emits one), and again once it is back.
  const failing = new Set<Queue<DispatchJob>>();
  for (const [lane, queue] of every) {
    queue.on('error', (error) => {
      clampRetryDelay(queue);
      if (failing.has(queue)) return options.logger.debug({ err: error, lane }, 'queue connection error');
      failing.add(queue);
      options.logger.warn({ err: error, lane }, 'queue connection error; retrying until Redis answers');
    });
  }

  const saveAll = async (lane: Lane, jobs: Queue.Job<DispatchJob>[]) => {
    // In chunks: bee-queue builds and parses one MULTI per call synchronously, and 10,000 jobs in one held the event
    // loop for half a second.
    for (let start = 0; start < jobs.length; start += SAVE_CHUNK) {
      if (!isConnected(lanes[lane])) throw new QueueUnavailableError(lane);
      const errors = await lanes[lane].saveAll(jobs.slice(start, start + SAVE_CHUNK));
      const first = errors.values().next();
      if (!first.done) throw first.value;
    }
  };

  const enqueue: DispatchQueues['enqueue'] = async (messages) => {
    const byLane = new Map<Lane, Queue.Job<DispatchJob>[]>();
    for (const m of messages) {
      const lane = laneFor(m.channel, m.priority);
      const attempt = m.attempt + 1;
      const job = lanes[lane]
        .createJob({ messageId: m.id, tenantId: m.tenantId, attempt })
        .setId(dispatchJobId(m.id, attempt))
        .timeout(JOB_TIMEOUT_MS);
      const jobs = byLane.get(lane) ?? [];
      if (jobs.length === 0) byLane.set(lane, jobs);
      jobs.push(job);
    }
    await Promise.all(
      [...byLane.entries()].map(async ([lane, jobs]) => {
        try {
          await saveAll(lane, jobs);
        } catch (error) {
          if (!isNoScript(error)) throw error;
          // The reconnect handler may not have run yet: load the scripts and try once more.
          await lua.buildCache((lanes[lane] as unknown as { client: unknown }).client);
          await saveAll(lane, jobs);
        }
      }),
    );
  };

  return {
    lanes,
    workers,
    async ready() {
      await Promise.all(every.map(([, queue]) => queue.ready()));
      for (const [lane, queue] of every) {
        reloadScriptsOnReconnect(queue);
        onReconnect(queue, () => {
          if (failing.delete(queue)) options.logger.info({ lane }, 'queue connection back');
        });
      }
    },
    enqueue,
    async enqueueAfterCommit(messages, what) {
      if (messages.length === 0) return;
      await enqueue(messages).catch((error: unknown) =>
        options.logger.warn(
          { err: error, messages: messages.length, what },
          'enqueue after commit failed; the scheduler re-enqueues these QUEUED rows once Redis answers',
        ),
      );
    },
    async stopWorkers(timeoutMs) {
      // bee-queue's close: no new job at once, then the running ones up to the timeout, then its connections.
      await Promise.all(Object.values(workers ?? {}).map((q) => q.close(timeoutMs).catch(() => undefined)));
    },
    async close(timeoutMs) {
      await this.stopWorkers(timeoutMs);
      await Promise.all(Object.values(lanes).map((q) => q.close(timeoutMs).catch(() => undefined)));
    },
  };
}
