import type pg from 'pg';
import { gql, SEND_MUTATION, smsInput } from './graphql';

/** `insert into <table> (every column) select <override or the template's value> from <template>, <source>`. */
async function copySql(
  db: pg.Client,
  table: string,
  template: string,
  source: string,
  overrides: Record<string, string>,
): Promise<string> {
  const { rows } = await db.query(
    `select column_name from information_schema.columns where table_name = $1 and table_schema = 'public'
     order by ordinal_position`,
    [table],
  );
  const columns = (rows as { column_name: string }[]).map((r) => r.column_name);
  const values = columns.map((c) => overrides[c] ?? `${template}."${c}"`);
  return `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) select ${values.join(', ')} from ${source}`;
}

/**
 * Fills a bench database fast: Herald accepts one real notification (so every column is as Herald writes it), then
 * PostgreSQL copies that row `count` times with new ids, users and times, one message per notification.
 */
export async function seedFromTemplate(
  apiUrl: string,
  db: pg.Client,
  options: { count: number; users: number; userPrefix: string; messageOverrides?: Record<string, string> },
): Promise<void> {
  const { sendNotification } = await gql<{ sendNotification: { notification: { id: string } } }>(
    apiUrl,
    SEND_MUTATION,
    { input: smsInput('template-user') },
  );
  const templateId = sendNotification.notification.id;
  await db.query(
    await copySql(
      db,
      'notification',
      't',
      `notification t, generate_series(0, $2::int - 1) g where t.id = $1`,
      {
        id: 'gen_random_uuid()',
        user_id: `$3 || (g % $4::int)`,
        idempotency_key: 'null',
        created_at: `now() - g * interval '1 second'`,
      },
    ),
    [templateId, options.count, options.userPrefix, options.users],
  );
  await db.query(
    await copySql(
      db,
      'message',
      'm',
      `message m join notification n on n.id <> m.notification_id where m.notification_id = $1`,
      {
        id: 'gen_random_uuid()',
        notification_id: 'n.id',
        user_id: 'n.user_id',
        created_at: 'n.created_at',
        ...options.messageOverrides,
      },
    ),
    [templateId],
  );
  await db.query(`delete from message where notification_id = $1`, [templateId]);
  await db.query(`delete from notification where id = $1`, [templateId]);
  await db.query('analyze notification');
  await db.query('analyze message');
}
