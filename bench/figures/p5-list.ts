import { benchDb, benchEnv, dropBenchEnv } from '../lib/bench-env';
import { gql } from '../lib/graphql';
import { spawnHerald } from '../lib/processes';
import { seedFromTemplate } from '../lib/seed';
import { percentile, round } from '../lib/stats';
import type { BenchContext, Figure } from './types';

const LIST = `query ($userId: ID!) {
  notifications(filter: { userId: $userId }, first: 20) {
    nodes { id type status createdAt messages { id channel status } }
    pageInfo { endCursor hasNextPage }
  }
}`;

/**
 * P5: a user's 20 newest notifications (with their messages) through GraphQL, with 1,000,000 messages stored, p50,
 * against PostgreSQL's index scan for the same 20 rows.
 */
export async function listLatency(ctx: BenchContext): Promise<Figure> {
  const rows = ctx.scale === 'tiny' ? 2_000 : 1_000_000;
  const users = ctx.scale === 'tiny' ? 20 : 10_000;
  const queries = ctx.scale === 'tiny' ? 20 : 300;
  const env = benchEnv('p5', ctx.emulatorUrl);
  const api = await spawnHerald('api', env.vars);
  const db = await benchDb(env);
  try {
    const seedStarted = performance.now();
    await seedFromTemplate(api.url, db, { count: rows, users, userPrefix: 'list-u-' });
    ctx.log(
      `P5: seeded ${rows} notifications and messages in ${round((performance.now() - seedStarted) / 1000, 1)} s`,
    );
    const userOf = (i: number) => `list-u-${(i * 7919) % users}`;

    for (let i = 0; i < 20; i++) await gql(api.url, LIST, { userId: userOf(i) }); // warm-up
    const api_ms: number[] = [];
    for (let i = 0; i < queries; i++) {
      const started = performance.now();
      const data = await gql<{ notifications: { nodes: unknown[] } }>(api.url, LIST, { userId: userOf(i) });
      api_ms.push(performance.now() - started);
      if (data.notifications.nodes.length !== 20) throw new Error('P5: expected 20 notifications per user');
    }
    const sql = `select * from notification where tenant_id = 'default' and user_id = $1
                 order by created_at desc, id desc limit 21`;
    for (let i = 0; i < 20; i++) await db.query(sql, [userOf(i)]);
    const sql_ms: number[] = [];
    for (let i = 0; i < queries; i++) {
      const started = performance.now();
      await db.query(sql, [userOf(i)]);
      sql_ms.push(performance.now() - started);
    }
    const p50 = percentile(api_ms, 50);
    const ceiling = percentile(sql_ms, 50);
    ctx.log(`P5: p50 ${round(p50, 2)} ms (index scan ${round(ceiling, 2)} ms)`);
    return {
      id: 'P5',
      name: `notifications(filter: user, first 20) with ${rows.toLocaleString('en-US')} messages, p50`,
      value: round(p50, 2),
      unit: 'ms',
      ceiling: round(ceiling, 2),
      ceilingName: 'PostgreSQL index scan of the same rows, p50 ms',
      ratio: round(ceiling / p50, 3),
      goal: '≤ 20 ms',
      met: p50 <= 20,
      details: {
        p99Ms: round(percentile(api_ms, 99), 2),
        ceilingP99Ms: round(percentile(sql_ms, 99), 2),
        queries,
        users,
      },
    };
  } finally {
    await db.end();
    await api.stop();
    await dropBenchEnv(env);
  }
}
