import { resolve } from 'node:path';
import autocannon from 'autocannon';
import { benchDb, benchEnv, dropBenchEnv } from '../lib/bench-env';
import { SEND_MUTATION, smsInput } from '../lib/graphql';
import { freePort, sampleRss, spawnHerald, spawnNode } from '../lib/processes';
import { round } from '../lib/stats';
import type { BenchContext, Figure } from './types';

const CONNECTIONS = 50;

function load(url: string, durationS: number, body: () => string) {
  return autocannon({
    url: `${url}/graphql`,
    connections: CONNECTIONS,
    duration: durationS,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    requests: [{ setupRequest: (request) => ({ ...request, body: body() }) }],
  });
}

async function countNotifications(db: { query: (sql: string) => Promise<{ rows: unknown[] }> }) {
  const { rows } = await db.query('select count(*)::int as count from notification');
  return (rows[0] as { count: number }).count;
}

/**
 * P1: single sendNotification accepted (committed) per second from one API process under 50 connections, against
 * bare Apollo Server `{ __typename }` on the same stack. Also P6's API half: the API's RSS under that load.
 */
export async function acceptRate(
  ctx: BenchContext,
): Promise<{ p1: Figure; apiRssMb: number; apiRssSamples: number[] }> {
  const durationS = ctx.scale === 'tiny' ? 1 : 10;

  const ceilingPort = await freePort();
  const bare = await spawnNode(
    resolve(__dirname, '../ceilings/bare-apollo.js'),
    [],
    { PORT: String(ceilingPort), NODE_ENV: 'production' },
    async (_out, url) => (await fetch(`${url}/health`)).ok,
    ceilingPort,
  );
  const typename = JSON.stringify({ query: '{ __typename }' });
  await load(bare.url, 1, () => typename); // warm-up
  const ceiling = await load(bare.url, durationS, () => typename);
  await bare.stop();
  ctx.log(`P1 ceiling: bare Apollo ${round(ceiling.requests.average)} req/s`);

  const env = benchEnv('p1', ctx.emulatorUrl);
  const api = await spawnHerald('api', env.vars);
  try {
    let n = 0;
    const send = () =>
      JSON.stringify({ query: SEND_MUTATION, variables: { input: smsInput(`u-${n++ % 5_000}`) } });
    await load(api.url, 1, send); // warm-up: connections, JIT, pools
    const db = await benchDb(env);
    const before = await countNotifications(db);
    const rss = sampleRss(api.child.pid!);
    const result = await load(api.url, durationS, send);
    const samples = rss.stop();
    const after = await countNotifications(db);
    await db.end();
    const committedPerS = (after - before) / durationS;
    const ratio = committedPerS / ceiling.requests.average;
    const p99 = result.latency.p99;
    ctx.log(`P1: ${round(committedPerS)} committed/s, p50 ${result.latency.p50} ms, p99 ${p99} ms`);
    return {
      p1: {
        id: 'P1',
        name: 'sendNotification accepted (committed) per s, 1 API process, 50 connections',
        value: round(committedPerS),
        unit: 'notifications/s',
        ceiling: round(ceiling.requests.average),
        ceilingName: 'bare Apollo Server { __typename }, same stack, req/s',
        ratio: round(ratio, 3),
        goal: '≥ 50% of ceiling, p99 ≤ 50 ms',
        met: ratio >= 0.5 && p99 <= 50,
        details: {
          p50Ms: result.latency.p50,
          p99Ms: p99,
          requests: result.requests.total,
          non2xx: result.non2xx,
          errors: result.errors,
          committed: after - before,
          ceilingP50Ms: ceiling.latency.p50,
          ceilingP99Ms: ceiling.latency.p99,
          durationS,
        },
      },
      apiRssMb: round(Math.max(...samples)),
      apiRssSamples: samples,
    };
  } finally {
    await api.stop();
    await dropBenchEnv(env);
  }
}
