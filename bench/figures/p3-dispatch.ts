import BeeQueue from 'bee-queue';
import { benchDb, benchEnv, dropBenchEnv, REDIS_URL } from '../lib/bench-env';
import { BATCH_MUTATION, gql, smsInput } from '../lib/graphql';
import { sampleRss, spawnHerald } from '../lib/processes';
import { round, sleep } from '../lib/stats';
import type { BenchContext, Figure } from './types';

/** Herald's default DISPATCH_CONCURRENCY: jobs in flight on one lane of one worker. */
const LANE_CONCURRENCY = 100;

/** bee-queue no-op jobs per second: the queue alone, same Redis, same concurrency as one Herald lane. */
async function beeQueueCeiling(jobs: number, concurrency: number): Promise<number> {
  const prefix = `herald-bench-bq-${Date.now().toString(36)}`;
  const settings = {
    prefix,
    redis: { url: REDIS_URL },
    removeOnSuccess: true,
    removeOnFailure: true,
  } as const;
  const producer = new BeeQueue('noop', {
    ...settings,
    isWorker: false,
    getEvents: false,
    sendEvents: false,
  });
  const worker = new BeeQueue('noop', { ...settings, getEvents: false, sendEvents: false });
  await Promise.all([producer.ready(), worker.ready()]);
  let done = 0;
  const finished = new Promise<void>((resolve) => {
    worker.process(concurrency, () => {
      done += 1;
      if (done === jobs) setImmediate(resolve);
      return Promise.resolve();
    });
  });
  const started = performance.now();
  for (let i = 0; i < jobs; i += 1_000) {
    await producer.saveAll(
      Array.from({ length: Math.min(1_000, jobs - i) }, (_, j) => producer.createJob({ i: i + j })),
    );
  }
  await finished;
  const rate = jobs / ((performance.now() - started) / 1000);
  await worker.destroy();
  await Promise.all([producer.close(), worker.close()]);
  return rate;
}

/**
 * P3: messages dispatched end to end per second by one worker process (job → real Twilio SDK → emulator → SENT
 * stored → event published), measured from the first claim to the last SENT in PostgreSQL. Also P6's worker half.
 */
export async function dispatchRate(ctx: BenchContext): Promise<{ p3: Figure; workerRss: number[] }> {
  // P6 asks for the worker's RSS over 100,000 jobs: the same run gives P3 its rate.
  const messages = ctx.scale === 'tiny' ? 60 : 100_000;
  const env = benchEnv('p3', ctx.emulatorUrl, { SCHEDULER_INTERVAL_MS: '1000' });
  const api = await spawnHerald('api', env.vars);
  const db = await benchDb(env);
  try {
    for (let i = 0; i < messages; i += 1_000) {
      const inputs = Array.from({ length: Math.min(1_000, messages - i) }, (_, j) => smsInput(`u-${i + j}`));
      await gql(api.url, BATCH_MUTATION, { inputs });
    }
    const worker = await spawnHerald('worker', env.vars);
    const rss = sampleRss(worker.child.pid!, 500);
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const { rows } = await db.query(`select count(*)::int as sent from message where status = 'SENT'`);
      if ((rows[0] as { sent: number }).sent >= messages) break;
      if (Date.now() > deadline) throw new Error('P3: messages were not all sent in time');
      // Counting 100,000 rows is work for PostgreSQL too: once a second is enough (the rate comes from timestamps).
      await sleep(ctx.scale === 'tiny' ? 200 : 1_000);
    }
    const workerRss = rss.stop();
    await worker.stop();
    const { rows } = await db.query(
      `select extract(epoch from max(sent_at) - min(sending_at)) as seconds from message where status = 'SENT'`,
    );
    const seconds = Number((rows[0] as { seconds: string }).seconds);
    const providerIds = (
      (
        await db.query(
          `select count(distinct provider_message_id)::int as n from message where status = 'SENT'`,
        )
      ).rows[0] as { n: number }
    ).n;
    const rate = messages / seconds;
    ctx.log(`P3: ${round(rate)} messages/s end to end (${messages} in ${round(seconds, 2)} s)`);
    const ceiling = await beeQueueCeiling(ctx.scale === 'tiny' ? 500 : 20_000, LANE_CONCURRENCY);
    ctx.log(`P3 ceiling: bee-queue ${round(ceiling)} no-op jobs/s`);
    return {
      p3: {
        id: 'P3',
        name: 'messages dispatched end to end per s, one worker (SMS via the Twilio SDK → emulator)',
        value: round(rate),
        unit: 'messages/s',
        ceiling: round(ceiling),
        ceilingName: `bee-queue no-op jobs/s, concurrency ${LANE_CONCURRENCY}`,
        ratio: round(rate / ceiling, 3),
        goal: '≥ 3,000/s',
        met: rate >= 3_000,
        details: {
          messages,
          seconds: round(seconds, 2),
          // Every SENT message carries the id the emulator's Twilio API gave it (the emulator keeps only its last
          // 10,000 requests, so the count comes from PostgreSQL).
          providerIds,
        },
      },
      workerRss,
    };
  } finally {
    await db.end();
    await api.stop();
    await dropBenchEnv(env);
  }
}
