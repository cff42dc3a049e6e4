import type { Config } from '../config/env';
import type { Logger } from '../config/logger';
import type { Services } from '../services';
import { LANES, STALL_CHECK_MS, type DispatchQueues } from '../jobs/dispatch.job';

export interface RunningWorker {
  /**
   * Stops the scheduler loop and ends its running pass at its next step (no more provider price look-ups, event
   * replays or releases); resolves once that pass has returned. The worker queues (and their in-flight jobs) are
   * closed by the caller (DispatchQueues.stopWorkers).
   */
  close(): Promise<void>;
}

/** Runs the dispatch processors on every lane and the scheduler loop that releases work waiting in PostgreSQL. */
export function startWorker(
  services: Services,
  queues: DispatchQueues,
  config: Config,
  logger: Logger,
): RunningWorker {
  const workers = queues.workers;
  if (!workers) throw new Error('startWorker needs queues created with isWorker: true');
  for (const lane of LANES) {
    workers[lane].process(config.dispatch.concurrency, async (job) => {
      // The CRITICAL lane claims in its own groups, apart from the bulk lanes' (DispatchService.claims).
      return services.dispatch.dispatch(job.data, lane === 'critical' ? 'critical' : 'bulk');
    });
    // A worker that died holding jobs leaves them "active" in Redis: give them back to the queue. (Its claimed rows
    // come back through their expired leases; re-enqueueing under the same job id could not, while the job lingers.)
    workers[lane]
      .checkStalledJobs(STALL_CHECK_MS)
      .catch((error: unknown) => logger.warn({ err: error, lane }, 'stalled job check failed'));
    // The row stays SENDING under its lease; the scheduler makes it claimable again when the lease expires.
    workers[lane].on('failed', (job, error) =>
      logger.error(
        { err: error, lane, messageId: job.data.messageId },
        'dispatch job failed; the lease expiry will retry it',
      ),
    );
  }

  let stopped = false;
  let running: Promise<void> | undefined;
  const stopping = new AbortController();
  const tick = async () => {
    try {
      const counts = await services.scheduler.tick(stopping.signal);
      if (counts.released + counts.expired + counts.requeued + counts.events > 0)
        logger.debug(counts, 'scheduler pass');
    } catch (error) {
      logger.warn({ err: error }, 'scheduler tick failed; will retry');
    } finally {
      running = undefined;
    }
  };
  // One pass at a time: a slow pass (a large backlog) skips the ticks that fall inside it instead of queueing them.
  const timer = setInterval(() => {
    if (stopped || running) return;
    running = tick();
  }, config.dispatch.schedulerIntervalMs);

  return {
    close: async () => {
      stopped = true;
      clearInterval(timer);
      stopping.abort();
      await running;
    },
  };
}
