import type { Config } from '../../config/env';
import type { Logger } from '../../config/logger';
import type { Services } from '../../services';
import { LANES, type DispatchQueues } from '../dispatch.job';

export interface RunningWorker {
  /** Stops the scheduler loop; the queues (and their in-flight jobs) are closed by the caller. */
  close(): Promise<void>;
}

/** Runs the dispatch processors on every lane and the scheduler loop that releases work waiting in PostgreSQL. */
export function startWorker(
  services: Services,
  queues: DispatchQueues,
  config: Config,
  logger: Logger,
): RunningWorker {
  for (const lane of LANES) {
    queues.lanes[lane].process(config.dispatch.concurrency, async (job) => {
      return services.dispatch.dispatch(job.data);
    });
    // The row stays SENDING under its lease; the scheduler makes it claimable again when the lease expires.
    queues.lanes[lane].on('failed', (job, error) =>
      logger.error(
        { err: error, lane, messageId: job.data.messageId },
        'dispatch job failed; the lease expiry will retry it',
      ),
    );
  }

  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const tick = async () => {
    try {
      const counts = await services.scheduler.tick();
      if (counts.released + counts.expired + counts.requeued > 0)
        logger.debug(counts, 'scheduler released messages');
    } catch (error) {
      logger.warn({ err: error }, 'scheduler tick failed; will retry');
    }
  };
  const timer = setInterval(() => {
    if (stopped) return;
    running = running.then(tick);
  }, config.dispatch.schedulerIntervalMs);

  return {
    close: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
