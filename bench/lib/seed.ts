import type pg from 'pg';
import { gql, SEND_MUTATION, smsInput } from './graphql';

/**
 * Fills a bench database fast: Herald accepts one real notification (so every column is as Herald writes it), then
 * PostgreSQL copies that row `count` times with new ids, users and times, one message per notification.
 */
export async function seedFromTemplate(
  apiUrl: string,
  db: pg.Client,
  options: { count: number; users: number; userPrefix: string; messageOverrides?: string },
): Promise<void> {
  const { sendNotification } = await gql<{ sendNotification: { notification: { id: string } } }>(
    apiUrl,
    SEND_MUTATION,
    { input: smsInput('template-user') },
  );
  const templateId = sendNotification.notification.id;
  await db.query(
    `insert into notification
       select (json_populate_record(null::notification, (row_to_json(t)::jsonb || jsonb_build_object(
         'id', gen_random_uuid(),
         'user_id', $2 || (g % $3),
         'idempotency_key', null,
         'created_at', now() - g * interval '1 second'))::json)).*
       from notification t, generate_series(0, $4 - 1) g where t.id = $1`,
    [templateId, options.userPrefix, options.users, options.count],
  );
  await db.query(
    `insert into message
       select (json_populate_record(null::message, (row_to_json(m)::jsonb || jsonb_build_object(
         'id', gen_random_uuid(),
         'notification_id', n.id,
         'user_id', n.user_id,
         'created_at', n.created_at
         ${options.messageOverrides ?? ''}))::json)).*
       from message m join notification n on n.id <> m.notification_id
       where m.notification_id = $1`,
    [templateId],
  );
  await db.query(`delete from message where notification_id = $1`, [templateId]);
  await db.query(`delete from notification where id = $1`, [templateId]);
  await db.query('analyze notification');
  await db.query('analyze message');
}
