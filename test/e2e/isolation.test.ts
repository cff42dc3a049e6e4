import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { print } from 'graphql';
import {
  SendNotificationDocument,
  SendNotificationsDocument,
  type SendNotificationInput,
  type SendNotificationMutation,
  type SendNotificationsMutation,
} from '../support/generated/graphql';
import { execute, type GraphQLResponse } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';
import { WebhookSender } from '../support/webhooks';

/**
 * `{"a":{"a":…{"a":1}}}`, `levels` objects deep, as JSON text: JSON.stringify itself overflows the stack on it.
 */
export const deepJson = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

/** Marks where a JSON text goes into a request body built around JSON.stringify. */
const DEEP = '__DEEP__';

/** One bad item never fails its neighbours: not at accept, not in a batch, not among concurrent webhooks. */
describe('isolation of bad input', () => {
  const sender = new WebhookSender();
  let stack: TestStack;
  let db: pg.Client;

  beforeAll(async () => {
    stack = await startStack({ extraEnv: { SENDGRID_WEBHOOK_PUBLIC_KEY: sender.sendgridPublicKey } });
    sender.baseUrl = stack.config.server.publicUrl;
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  const count = async (sql: string, params: unknown[] = []) =>
    (await db.query<{ n: number }>(sql, params)).rows[0].n;
  const valid = (userId: string, body = 'hello'): SendNotificationInput => ({
    userId,
    type: 'adhoc',
    channels: ['SMS'],
    to: { phone: '+14155552671' },
    content: { body },
  });
  /** POSTs a document whose variables may hold a DEEP marker, replaced by 5,000-deep JSON. */
  async function post<T>(
    document: Parameters<typeof print>[0],
    variables: unknown,
  ): Promise<GraphQLResponse<T>> {
    const body = JSON.stringify({ query: print(document), variables }).replace(`"${DEEP}"`, deepJson(5_000));
    const response = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    return (await response.json()) as GraphQLResponse<T>;
  }
  const send = (input: SendNotificationInput) =>
    post<SendNotificationMutation>(SendNotificationDocument, { input });

  it('40 valid concurrent sends are stored beside one with a NUL byte and one with 5,000-deep data', async () => {
    const results = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => send(valid(`iso-${i}`))),
      send(valid('iso-nul', 'before\u0000after')),
      send({ ...valid('iso-deep'), data: DEEP }),
      ...Array.from({ length: 20 }, (_, i) => send(valid(`iso-${20 + i}`))),
    ]);
    const bad = results.splice(20, 2);
    expect(bad[0].errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'content.body' },
    });
    expect(bad[0].errors?.[0].message).toMatch(/content\.body: contains a NUL character/);
    expect(bad[1].errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'data' } });
    expect(bad[1].errors?.[0].message).toMatch(/^data(\.a)*: .*deep/);
    for (const r of results) expect(r.errors).toBeUndefined();
    expect(await count(`select count(*)::int n from notification where user_id like 'iso-%'`)).toBe(40);
    expect(
      await count(`select count(*)::int n from notification where user_id in ('iso-nul', 'iso-deep')`),
    ).toBe(0);
  });

  it('a 5,000-deep data literal in the document is refused as bad input, not an internal error', async () => {
    const literal = `${'{a:'.repeat(5_000)}1${'}'.repeat(5_000)}`;
    const response = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: `mutation { sendNotification(input: { userId: "lit-deep", type: "adhoc", channels: [SMS], to: { phone: "+14155552671" }, content: { body: "x" }, data: ${literal} }) { notification { id } } }`,
      }),
    });
    expect(response.status).toBeLessThan(500);
    const { errors } = (await response.json()) as GraphQLResponse<unknown>;
    expect(errors?.[0].extensions?.code).toMatch(
      /^(BAD_USER_INPUT|GRAPHQL_PARSE_FAILED|GRAPHQL_VALIDATION_FAILED)$/,
    );
    expect(await count(`select count(*)::int n from notification where user_id = 'lit-deep'`)).toBe(0);
  });

  it('a batch with such inputs answers each by its index; the rest are accepted', async () => {
    const inputs = [
      valid('batch-0'),
      valid('batch-nul', '\u0000'),
      valid('batch-2'),
      { ...valid('batch-deep'), data: DEEP },
      { ...valid('batch-4'), idempotencyKey: 'key-\ud800' },
      valid('batch-5'),
    ];
    const { data, errors } = await post<SendNotificationsMutation>(SendNotificationsDocument, { inputs });
    expect(errors).toBeUndefined();
    const { results, summary } = data!.sendNotifications;
    expect(summary).toMatchObject({ total: 6, accepted: 3, failed: 3 });
    expect(results.map((r) => [r.index, r.error?.code ?? 'ok'])).toEqual([
      [0, 'ok'],
      [1, 'BAD_USER_INPUT'],
      [2, 'ok'],
      [3, 'BAD_USER_INPUT'],
      [4, 'BAD_USER_INPUT'],
      [5, 'ok'],
    ]);
    expect(results[1].error?.message).toMatch(/^content\.body: contains a NUL character/);
    expect(results[4].error?.message).toMatch(/^idempotencyKey: contains a lone UTF-16 surrogate/);
    expect(await count(`select count(*)::int n from notification where user_id like 'batch-%'`)).toBe(3);
  });

  it('a group that fails for a reason other than input (a row the database refuses) settles each send alone', async () => {
    // A real constraint of this test's database that only one row trips: the group's transaction fails as a whole.
    await db.query(`alter table notification add constraint trip check (user_id <> 'trip-me')`);
    try {
      const results = await Promise.all([
        ...Array.from({ length: 15 }, (_, i) => send(valid(`grp-${i}`))),
        send(valid('trip-me')),
        ...Array.from({ length: 15 }, (_, i) => send(valid(`grp-${15 + i}`))),
      ]);
      const [tripped] = results.splice(15, 1);
      expect(tripped.errors?.[0].extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      for (const r of results) expect(r.errors).toBeUndefined();
      expect(await count(`select count(*)::int n from notification where user_id like 'grp-%'`)).toBe(30);

      const { data } = await execute(stack.url, SendNotificationsDocument, {
        inputs: [valid('bgrp-0'), valid('trip-me'), valid('bgrp-2')],
      });
      expect(data!.sendNotifications.results.map((r) => r.error?.code ?? 'ok')).toEqual([
        'ok',
        'INTERNAL_SERVER_ERROR',
        'ok',
      ]);
      expect(await count(`select count(*)::int n from notification where user_id like 'bgrp-%'`)).toBe(2);
      expect(await count(`select count(*)::int n from notification where user_id = 'trip-me'`)).toBe(0);
    } finally {
      await db.query('alter table notification drop constraint trip');
    }
  });

  const inbound = (sid: string, body: string) =>
    sender.twilio('/webhooks/twilio/inbound', {
      MessageSid: sid,
      From: '+14155550177',
      To: '+15005550006',
      Body: body,
      NumMedia: '0',
    });

  it('60 concurrent signed Twilio inbounds, one with %00 in the Body: every one answers 2xx and is stored', async () => {
    const sids = Array.from({ length: 60 }, (_, i) => `SMiso${String(i).padStart(29, '0')}`);
    const answers = await Promise.all(
      sids.map((sid, i) => inbound(sid, i === 30 ? 'hello\u0000world' : `hello ${i}`)),
    );
    expect(answers.map((a) => a.status)).toEqual(sids.map(() => 200));
    expect(
      await count(`select count(*)::int n from provider_event where event_key = any($1)`, [
        sids.map((s) => `${s}:inbound`),
      ]),
    ).toBe(60);
    // Vendors send what they send: the verified body is kept, its NUL replaced by U+FFFD.
    const kept = await db.query<{ body: string }>(
      'select body from inbound_message where provider_message_id = $1',
      [sids[30]],
    );
    expect(kept.rows).toEqual([{ body: 'hello\ufffdworld' }]);
  });

  it('a webhook group the database refuses for one event settles the others', async () => {
    await db.query(`alter table provider_event add constraint trip check (event_key <> 'SMtrip:inbound')`);
    try {
      const sids = Array.from({ length: 30 }, (_, i) => `SMgrp${String(i).padStart(29, '0')}`);
      const answers = await Promise.all([...sids.map((sid) => inbound(sid, 'hi')), inbound('SMtrip', 'hi')]);
      const tripped = answers.pop()!;
      expect(tripped.status).toBe(500);
      expect(answers.map((a) => a.status)).toEqual(sids.map(() => 200));
      expect(
        await count(`select count(*)::int n from provider_event where event_key = any($1)`, [
          sids.map((s) => `${s}:inbound`),
        ]),
      ).toBe(30);
    } finally {
      await db.query('alter table provider_event drop constraint trip');
    }
  });

  it('SendGrid events with \\u0000 and lone surrogates inside strings are stored, sanitized', async () => {
    const event = (id: string, extra: Record<string, unknown> = {}) => ({
      email: 'reader@example.com',
      event: 'open',
      timestamp: Math.floor(Date.now() / 1000),
      sg_event_id: id,
      sg_message_id: 'nosuchmessage.filter0001',
      ...extra,
    });
    const response = await sender.sendgrid([
      event('sg-iso-1'),
      event('sg-iso-2', { useragent: 'agent\u0000x', 'k\u0000ey': '\ud800' }),
      event('sg-iso-3'),
    ]);
    expect(response.status).toBeLessThan(300);
    const rows = await db.query<{ event_key: string; payload: { event: Record<string, unknown> } }>(
      `select event_key, payload from provider_event where provider = 'sendgrid' and event_key like 'sg-iso-%' order by event_key`,
    );
    expect(rows.rows.map((r) => r.event_key)).toEqual(['sg-iso-1', 'sg-iso-2', 'sg-iso-3']);
    expect(rows.rows[1].payload.event).toMatchObject({ useragent: 'agent\ufffdx', 'k\ufffdey': '\ufffd' });
  });
});
