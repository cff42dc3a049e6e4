import { randomUUID } from 'node:crypto';
import { benchDb, benchEnv, dropBenchEnv } from '../lib/bench-env';
import { BATCH_MUTATION, gql, smsInput } from '../lib/graphql';
import { spawnHerald } from '../lib/processes';
import { round } from '../lib/stats';
import type { BenchContext, Figure } from './types';

const BATCH = 1_000;

/**
 * P2: sendNotifications in batches of 1,000 (one client, one batch at a time), notifications accepted per second,
 * against PostgreSQL bulk-inserting the same rows — notifications, messages and their first delivery events — in one
 * transaction per 1,000 (one multi-row insert per table, as JSON record sets).
 */
export async function batchRate(ctx: BenchContext): Promise<Figure> {
  const batches = ctx.scale === 'tiny' ? 2 : 10;
  const size = ctx.scale === 'tiny' ? 50 : BATCH;
  const env = benchEnv('p2', ctx.emulatorUrl);
  const api = await spawnHerald('api', env.vars);
  const db = await benchDb(env);
  try {
    const batch = (b: number) =>
      Array.from({ length: size }, (_, i) => smsInput(`u-${b}-${i}`, `Batch ${b} message ${i}`));
    await gql(api.url, BATCH_MUTATION, { inputs: batch(-1) }); // warm-up
    const started = performance.now();
    for (let b = 0; b < batches; b++) {
      const { sendNotifications } = await gql<{ sendNotifications: { summary: { accepted: number } } }>(
        api.url,
        BATCH_MUTATION,
        { inputs: batch(b) },
      );
      if (sendNotifications.summary.accepted !== size) throw new Error('P2: a batch was not fully accepted');
    }
    const seconds = (performance.now() - started) / 1000;
    const accepted = (batches * size) / seconds;
    ctx.log(`P2: ${round(accepted)} notifications/s in batches of ${size}`);

    // Ceiling: the same rows (copied from what Herald wrote, with new ids) inserted by PostgreSQL in bulk.
    const notifications = (await db.query(`select * from notification limit ${size}`)).rows as Record<
      string,
      unknown
    >[];
    const ids = notifications.map((n) => n.id);
    const messages = (await db.query('select * from message where notification_id = any($1)', [ids]))
      .rows as Record<string, unknown>[];
    // Each accepted message also gets its first delivery event (QUEUED) in the same transaction.
    const events = (
      await db.query('select * from delivery_event where message_id = any($1)', [messages.map((m) => m.id)])
    ).rows as Record<string, unknown>[];
    const ceilingStarted = performance.now();
    for (let b = 0; b < batches; b++) {
      const renamed = new Map(notifications.map((n) => [n.id, randomUUID()]));
      await db.query('begin');
      await db.query(
        'insert into notification select * from json_populate_recordset(null::notification, $1::json)',
        [JSON.stringify(notifications.map((n) => ({ ...n, id: renamed.get(n.id), idempotency_key: null })))],
      );
      const renamedMessages = new Map(messages.map((m) => [m.id, randomUUID()]));
      await db.query('insert into message select * from json_populate_recordset(null::message, $1::json)', [
        JSON.stringify(
          messages.map((m) => ({
            ...m,
            id: renamedMessages.get(m.id),
            notification_id: renamed.get(m.notification_id),
          })),
        ),
      ]);
      await db.query(
        'insert into delivery_event select * from json_populate_recordset(null::delivery_event, $1::json)',
        [
          JSON.stringify(
            events.map((e) => ({ ...e, id: randomUUID(), message_id: renamedMessages.get(e.message_id) })),
          ),
        ],
      );
      await db.query('commit');
    }
    const ceiling = (batches * size) / ((performance.now() - ceilingStarted) / 1000);
    ctx.log(`P2 ceiling: PostgreSQL bulk insert ${round(ceiling)} notifications/s`);
    return {
      id: 'P2',
      name: `sendNotifications in batches of ${size}, notifications accepted per s`,
      value: round(accepted),
      unit: 'notifications/s',
      ceiling: round(ceiling),
      ceilingName: 'PostgreSQL bulk insert of the same rows, notifications/s',
      ratio: round(accepted / ceiling, 3),
      goal: '≥ 20,000/s',
      met: accepted >= 20_000,
      details: {
        batches,
        batchSize: size,
        seconds: round(seconds, 2),
        messagesPerNotification: messages.length / size,
      },
    };
  } finally {
    await db.end();
    await api.stop();
    await dropBenchEnv(env);
  }
}
