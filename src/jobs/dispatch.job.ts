import Queue from 'bee-queue';
import type { Config } from '../config/env';

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

export interface DispatchQueues {
  lanes: Record<Lane, Queue<DispatchJob>>;
  /** Enqueues one job per message, grouped by lane; a job id that already exists is not added twice. */
  enqueue(
    messages: { id: string; tenantId: string; attempt: number; channel: string; priority: string }[],
  ): Promise<void>;
  close(timeoutMs: number): Promise<void>;
}

export function createDispatchQueues(config: Config, options: { isWorker: boolean }): DispatchQueues {
  const make = (lane: Lane) =>
    new Queue<DispatchJob>(`dispatch:${lane}`, {
      prefix: `${config.redis.keyPrefix}:bq`,
      // bee-queue accepts only its own node-redis v3 client or its settings.
      redis: { url: config.redis.url },
      isWorker: options.isWorker,
      getEvents: false,
      sendEvents: false,
      storeJobs: false,
      removeOnSuccess: true,
      removeOnFailure: true,
      activateDelayedJobs: false,
      // Attempts and retries are counted in PostgreSQL; bee-queue only carries.
      stallInterval: 5_000,
    });
  const lanes = Object.fromEntries(LANES.map((lane) => [lane, make(lane)])) as Record<
    Lane,
    Queue<DispatchJob>
  >;

  return {
    lanes,
    async enqueue(messages) {
      const byLane = new Map<Lane, Queue.Job<DispatchJob>[]>();
      for (const m of messages) {
        const lane = laneFor(m.channel, m.priority);
        const attempt = m.attempt + 1;
        const job = lanes[lane]
          .createJob({ messageId: m.id, tenantId: m.tenantId, attempt })
          .setId(dispatchJobId(m.id, attempt))
          .timeout(JOB_TIMEOUT_MS);
        byLane.set(lane, [...(byLane.get(lane) ?? []), job]);
      }
      await Promise.all(
        [...byLane.entries()].map(async ([lane, jobs]) => {
          const errors = await lanes[lane].saveAll(jobs);
          const first = errors.values().next();
          if (!first.done) throw first.value;
        }),
      );
    },
    async close(timeoutMs) {
      await Promise.all(Object.values(lanes).map((q) => q.close(timeoutMs).catch(() => undefined)));
    },
  };
}
