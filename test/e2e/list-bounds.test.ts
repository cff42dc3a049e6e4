import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendNotificationDocument } from '../support/generated/graphql';
import { execute, executeOk } from '../support/graphql';
import { expectAlive, PRODUCTION_NODE_ARGS, startStack, type TestStack } from '../support/stack';

type Response<T> = Awaited<ReturnType<typeof execute<T, unknown>>>;

/**
 * Finding 1 of the final break-it round: the query cost priced a notification at 5 messages while a send can fan out
 * to 105, so 4 aliases of a 100-notification page (cost 2,800) loaded 40,000 messages and ran a 192 MB API out of
 * heap. Every list is now priced at a bound its resolver or the writes behind it enforce (src/services/list-limits.ts);
 * this file holds those bounds against real rows: the attack on a production-heap process, the write caps that make
 * type and preference lists finite, and the read caps of lists that grow without end (devices, ledger, events).
 */
describe('list bounds: every list the cost prices is bounded where it is read or written', () => {
  let stack: TestStack;
  let api: Awaited<ReturnType<TestStack['spawnRole']>>;
  let db: pg.Client;
  let stderr = '';

  beforeAll(async () => {
    stack = await startStack({ role: 'api' });
    api = await stack.spawnRole('api', { nodeArgs: PRODUCTION_NODE_ARGS });
    api.child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
  }, 60_000);

  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  const gql = <T>(query: string, variables?: Record<string, unknown>): Promise<Response<T>> =>
    execute<T, unknown>(api.url, query, variables);

  it('the fan-out attack (4 aliases × 100 notifications × 100 push messages) is refused by cost and the 192 MB API stays up', async () => {
    // One real send to 100 devices, scheduled hours ahead (an API-only stack dispatches nothing anyway) ...
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId: 'fan',
        type: 'fan0',
        channels: ['PUSH'],
        scheduledAt: new Date(Date.now() + 6 * 3_600_000).toISOString(),
        to: { deviceTokens: Array.from({ length: 100 }, (_, k) => `fan-token-${k}`) },
        content: { title: 'x', body: 'y' },
      },
    });
    const original = sendNotification.notification.id;
    // ... copied 399 times in SQL (sending 40,000 messages through the API would take minutes): 100 per type fan0..3.
    // Column lists are read from the catalog so the copy follows the schema; only keys and type change.
    const columns = async (table: string, replaced: Record<string, string>) => {
      const { rows } = await db.query<{ name: string }>(
        `select column_name as name from information_schema.columns
          where table_name = $1 and is_generated = 'NEVER' and identity_generation is null order by ordinal_position`,
        [table],
      );
      const names = rows.map((r) => r.name);
      return {
        into: names.map((n) => `"${n}"`).join(', '),
        select: names.map((n) => replaced[n] ?? `t."${n}"`).join(', '),
      };
    };
    const notificationColumns = await columns('notification', {
      id: 'c.id',
      type: `'fan' || (c.g % 4)`,
      idempotency_key: 'null',
      created_at: `t.created_at + c.g * interval '1 millisecond'`,
    });
    const messageColumns = await columns('message', { id: 'gen_random_uuid()', notification_id: 'c.id' });
    await db.query(
      `with copies as (select g, gen_random_uuid() as id from generate_series(1, 399) g),
         notifications as (
           insert into notification (${notificationColumns.into})
           select ${notificationColumns.select} from notification t, copies c where t.id = $1)
       insert into message (${messageColumns.into})
       select ${messageColumns.select} from message t, copies c where t.notification_id = $1`,
      [original],
    );
    const { rows } = await db.query<{ type: string; notifications: number; messages: number }>(
      `select n.type, count(distinct n.id)::int notifications, count(*)::int messages
         from notification n join message m on m.notification_id = n.id group by n.type order by n.type`,
    );
    expect(rows).toEqual(
      ['fan0', 'fan1', 'fan2', 'fan3'].map((type) => ({ type, notifications: 100, messages: 10_000 })),
    );

    const aliases = [0, 1, 2, 3]
      .map(
        (t) =>
          `a${t}: notifications(first: 100, filter: { type: "fan${t}" }) { nodes { id messages { id status } } }`,
      )
      .join(' ');
    const attack = await gql<unknown>(`{ ${aliases} }`);
    expect(attack.data ?? undefined).toBeUndefined();
    expect(attack.errors).toHaveLength(1);
    // 4 × 100 × (1 + 1 + 105 messages) = 42,800, was 2,800 at 5 messages a notification.
    expect(attack.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      limit: 'GRAPHQL_MAX_COST',
      max: 10_000,
      found: 42_800,
    });
    expect(attack.errors?.[0]?.message).toBe(
      'Query cost limit of 10000 exceeded, estimated 42800 (GRAPHQL_MAX_COST)',
    );
    expect(api.child.exitCode, `the API died:\n${stderr}`).toBeNull();
    await expectAlive(api);

    // The largest page the limit lets through is answered whole over the same rows: its price is a true bound.
    const fits = await gql<{ notifications: { nodes: { messages: { id: string }[] }[] } }>(
      '{ notifications(first: 90, filter: { type: "fan0" }) { nodes { id messages { id status } } } }',
    );
    expect(fits.errors).toBeUndefined();
    expect(fits.data?.notifications.nodes).toHaveLength(90);
    expect(fits.data?.notifications.nodes.every((n) => n.messages.length === 100)).toBe(true);
    expect(api.child.exitCode, `the API died:\n${stderr}`).toBeNull();
    await expectAlive(api);
  }, 180_000);

  describe('write caps', () => {
    const upsertType = (input: Record<string, unknown>) =>
      gql<{ upsertNotificationType: { key: string } }>(
        'mutation ($input: NotificationTypeInput!) { upsertNotificationType(input: $input) { key } }',
        { input },
      );

    it('a tenant has at most 200 notification types, under concurrency too: past it a new key is BAD_USER_INPUT naming input.key; existing ones still update', async () => {
      await db.query(
        `insert into notification_type (id, tenant_id, key, name, default_channels, templates, created_at, updated_at)
         select gen_random_uuid(), 'default', 'seeded_' || g, 'seeded ' || g, '[]', '[]', now(), now()
         from generate_series(1, 190) g`,
      );
      // 30 new keys at once, spread over two API processes, for the last 10 places: the count and the insert are one
      // step under the tenant's advisory lock, so exactly 10 get in.
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          execute<{ upsertNotificationType: { key: string } }, unknown>(
            i % 2 === 0 ? api.url : stack.url,
            'mutation ($input: NotificationTypeInput!) { upsertNotificationType(input: $input) { key } }',
            { input: { key: `racing_${i}` } },
          ),
        ),
      );
      const refusals = answers.flatMap((a) => a.errors ?? []);
      expect(answers.filter((a) => !a.errors)).toHaveLength(10);
      expect(refusals).toHaveLength(20);
      for (const refusal of refusals) {
        expect(refusal).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.key' } });
        expect(refusal.message).toMatch(/at most 200 notification types/);
      }
      const refused = await upsertType({ key: 'the_201st' });
      expect(refused.errors?.[0]).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'input.key' },
      });
      expect((await upsertType({ key: 'seeded_7', name: 'renamed' })).errors).toBeUndefined();
      const { rows } = await db.query<{ n: number }>(
        `select count(*)::int n from notification_type where tenant_id = 'default'`,
      );
      expect(rows[0].n).toBe(200);
      const types = await gql<{ notificationTypes: { key: string }[] }>('{ notificationTypes { key } }');
      expect(types.errors).toBeUndefined();
      expect(types.data?.notificationTypes).toHaveLength(200);
    });

    it('a type has at most 40 templates (4 channels × 10 locales): 41 are BAD_USER_INPUT naming input.templates', async () => {
      const locales = ['en', 'fr', 'de', 'es', 'it', 'pt', 'nl', 'sv', 'pl', 'ja'];
      const templates = locales.flatMap((locale) => [
        { channel: 'EMAIL', locale, subject: 's', text: 't' },
        { channel: 'SMS', locale, body: 'b' },
        { channel: 'WHATSAPP', locale, body: 'b' },
        { channel: 'PUSH', locale, title: 't' },
      ]);
      expect(templates).toHaveLength(40);
      const accepted = await upsertType({ key: 'seeded_1', templates });
      expect(accepted.errors).toBeUndefined();
      const refused = await upsertType({
        key: 'seeded_1',
        templates: [...templates, { channel: 'SMS', locale: 'ko', body: 'b' }],
      });
      expect(refused.errors?.[0]).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'input.templates' },
      });
      expect(refused.errors?.[0]?.message).toMatch(/at most 40 templates per type \(got 41\)/);
    });

    it('a user has at most 800 type × channel preferences: 801 are BAD_USER_INPUT naming input.types, nothing stored', async () => {
      const update = (types: { type: string; channel: string; enabled: boolean }[]) =>
        gql<{ updateNotificationPreferences: { types: unknown[] } }>(
          'mutation ($userId: ID!, $input: NotificationPreferencesInput!) { updateNotificationPreferences(userId: $userId, input: $input) { types { type channel enabled } } }',
          { userId: 'prefs', input: { types } },
        );
      const entries = Array.from({ length: 201 }, (_, t) =>
        ['EMAIL', 'SMS', 'WHATSAPP', 'PUSH'].map((channel) => ({ type: `p${t}`, channel, enabled: false })),
      ).flat();
      const refused = await update(entries.slice(0, 801));
      expect(refused.errors?.[0]).toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', field: 'input.types' },
      });
      expect(refused.errors?.[0]?.message).toMatch(/at most 800 type × channel preferences/);
      // 800 fit; one more new entry on top of them (merged with the stored ones) does not; a stored one still updates.
      expect((await update(entries.slice(0, 800))).errors).toBeUndefined();
      expect((await update(entries.slice(800, 801))).errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'input.types',
      });
      const again = await update([{ ...entries[0], enabled: true }]);
      expect(again.errors).toBeUndefined();
      expect(again.data?.updateNotificationPreferences.types).toHaveLength(800);
    });
  });

  describe('read caps of lists that grow without end', () => {
    const user = <T>(userId: string, selection: string) =>
      gql<{ _entities: T[] }>(
        `query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { ${selection} } } }`,
        { r: [{ __typename: 'User', id: userId }] },
      );

    it('User.devices(includeInactive: true): at most 100, the active ones first, then the newest; answered oldest first', async () => {
      const userId = `devices-${randomUUID()}`;
      // 150 inactive devices (they accumulate without bound), then 3 active ones created before all of them.
      await db.query(
        `insert into device (id, tenant_id, user_id, token, active, created_at, updated_at)
         select gen_random_uuid(), 'default', $1, 'token-' || g || '-' || $1, g <= 3,
                timestamptz '2026-01-01' + g * interval '1 minute', now()
         from generate_series(1, 153) g`,
        [userId],
      );
      type Devices = { devices: { token: string; active: boolean }[] };
      const all = await user<Devices>(userId, 'devices(includeInactive: true) { token active }');
      expect(all.errors).toBeUndefined();
      const listed = all.data!._entities[0].devices;
      expect(listed).toHaveLength(100);
      // The 3 active ones and the newest 97 inactive ones (57..153), oldest first.
      expect(listed.map((d) => d.token)).toEqual(
        [1, 2, 3, ...Array.from({ length: 97 }, (_, i) => 57 + i)].map((g) => `token-${g}-${userId}`),
      );
      const active = await user<Devices>(userId, 'devices { token active }');
      expect(active.data?._entities[0].devices.map((d) => d.active)).toEqual([true, true, true]);
    });

    it('User.consentHistory: the newest 100 ledger entries, oldest first', async () => {
      const userId = `history-${randomUUID()}`;
      await db.query(
        `insert into consent_event (id, tenant_id, user_id, channel, type_key, action, status, source, occurred_at, recorded_at)
         select gen_random_uuid(), 'default', $1, 'SMS', '*', case when g % 2 = 0 then 'REVOKE' else 'GRANT' end,
                case when g % 2 = 0 then 'REVOKED' else 'GRANTED' end, 'seed-' || g,
                timestamptz '2026-01-01' + g * interval '1 minute', timestamptz '2026-01-01' + g * interval '1 minute'
         from generate_series(1, 150) g`,
        [userId],
      );
      const history = await user<{ consentHistory: { source: string }[] }>(
        userId,
        'consentHistory { source }',
      );
      expect(history.errors).toBeUndefined();
      expect(history.data?._entities[0].consentHistory.map((e) => e.source)).toEqual(
        Array.from({ length: 100 }, (_, i) => `seed-${51 + i}`),
      );
    });

    it('Message.events: the newest 50 of a message, oldest first', async () => {
      const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
        input: {
          userId: `events-${randomUUID()}`,
          type: 'adhoc',
          channels: ['SMS'],
          to: { phone: '+14155552671' },
          content: { body: 'events' },
        },
      });
      const messageId = sendNotification.notification.messages[0].id;
      // Provider events (every open, every click) are all stored: 70 more than accept's own.
      await db.query(
        `insert into delivery_event (id, tenant_id, message_id, status, occurred_at, source, provider_event_id, recorded_at)
         select gen_random_uuid(), 'default', $1, 'OPENED', now(), 'seed', 'seed-' || g,
                clock_timestamp() + g * interval '1 second'
         from generate_series(1, 70) g`,
        [messageId],
      );
      const result = await gql<{ message: { events: { providerEventId: string | null }[] } }>(
        `{ message(id: "${messageId}") { events { providerEventId } } }`,
      );
      expect(result.errors).toBeUndefined();
      expect(result.data?.message.events.map((e) => e.providerEventId)).toEqual(
        Array.from({ length: 50 }, (_, i) => `seed-${21 + i}`),
      );
      const { rows } = await db.query<{ n: number }>(
        'select count(*)::int n from delivery_event where message_id = $1',
        [messageId],
      );
      expect(rows[0].n).toBeGreaterThan(70);
    });
  });
});
