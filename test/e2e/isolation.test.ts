import { describe, expect, it } from 'vitest';
import { print } from 'graphql';
import {
  SendNotificationDocument,
  SendNotificationsDocument,
  type SendNotificationInput,
  type SendNotificationMutation,
  type SendNotificationsMutation,
} from '../support/generated/graphql';
import { execute, type GraphQLResponse } from '../support/graphql';
import { useWebhookStack } from '../support/webhooks';

/**
 * `{"a":{"a":…{"a":1}}}`, `levels` objects deep, as JSON text: JSON.stringify itself overflows the stack on it.
 */
export const deepJson = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

/** Marks where a JSON text goes into a request body built around JSON.stringify. */
const DEEP = '__DEEP__';

/** One bad item never fails its neighbours: not at accept, not in a batch, not among concurrent webhooks. */
describe('isolation of bad input', () => {
  const suite = useWebhookStack();
  const { sender } = suite;

  const count = async (sql: string, params: unknown[] = []) =>
    (await suite.db.query<{ n: number }>(sql, params)).rows[0].n;
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
    const response = await fetch(suite.stack.url, {
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
    const response = await fetch(suite.stack.url, {
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
    await suite.db.query(`alter table notification add constraint trip check (user_id <> 'trip-me')`);
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

      const { data } = await execute(suite.stack.url, SendNotificationsDocument, {
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
      await suite.db.query('alter table notification drop constraint trip');
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
    const kept = await suite.db.query<{ body: string }>(
      'select body from inbound_message where provider_message_id = $1',
      [sids[30]],
    );
    expect(kept.rows).toEqual([{ body: 'hello\ufffdworld' }]);
  });

  it('a webhook group the database refuses for one event settles the others', async () => {
    await suite.db.query(
      `alter table provider_event add constraint trip check (event_key <> 'SMtrip:inbound')`,
    );
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
      await suite.db.query('alter table provider_event drop constraint trip');
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
    const rows = await suite.db.query<{ event_key: string; payload: { event: Record<string, unknown> } }>(
      `select event_key, payload from provider_event where provider = 'sendgrid' and event_key like 'sg-iso-%' order by event_key`,
    );
    expect(rows.rows.map((r) => r.event_key)).toEqual(['sg-iso-1', 'sg-iso-2', 'sg-iso-3']);
    expect(rows.rows[1].payload.event).toMatchObject({ useragent: 'agent\ufffdx', 'k\ufffdey': '\ufffd' });
  });

  describe('size caps and the scheduledAt horizon at accept', () => {
    const sms = (body: string, extra: Partial<SendNotificationInput> = {}) => ({
      ...valid('cap'),
      content: { body },
      ...extra,
    });
    const day = 86_400_000;
    const refusals: [string, SendNotificationInput, string, RegExp][] = [
      [
        'SMS body of 1,601 characters',
        sms('x'.repeat(1_601)),
        'content.body',
        /1600 characters \(SMS: Twilio/,
      ],
      ['SMS body of 1.9 MB', sms('x'.repeat(1_900_000)), 'content.body', /at most/],
      [
        'WhatsApp body of 1,601 characters (Twilio carries it)',
        {
          ...valid('cap'),
          channels: ['WHATSAPP'],
          to: { whatsapp: '+14155552671' },
          content: { body: 'x'.repeat(1_601) },
        },
        'content.body',
        /1600 characters \(WHATSAPP: Twilio/,
      ],
      [
        'push title and body over 4 KB',
        {
          ...valid('cap'),
          channels: ['PUSH'],
          to: { deviceTokens: ['tok'] },
          content: { title: 't', body: 'é'.repeat(2_048) },
        },
        'content.body',
        /over FCM's maximum of 4,096 bytes to a device token/,
      ],
      [
        'email subject of 999 characters',
        {
          ...valid('cap'),
          channels: ['EMAIL'],
          to: { email: 'a@example.com' },
          content: { subject: 's'.repeat(999), text: 't' },
        },
        'content.subject',
        /998 characters \(RFC 5322/,
      ],
      [
        '11 media URLs',
        sms('x', {
          content: {
            body: 'x',
            mediaUrls: Array.from({ length: 11 }, (_, i) => `https://example.com/${i}.png`),
          },
        }),
        'content.mediaUrls',
        /at most 10 media/,
      ],
      [
        'idempotencyKey of 256 characters',
        sms('x', { idempotencyKey: 'k'.repeat(256) }),
        'idempotencyKey',
        /255/,
      ],
      ['userId of 201 characters', sms('x', { userId: 'u'.repeat(201) }), 'userId', /200/],
      [
        'data of 33 levels',
        sms('x', { data: JSON.parse(deepJson(33)) as Record<string, unknown> }),
        'data',
        /deeper than 32/,
      ],
      ['data over 64 KB', sms('x', { data: { big: 'x'.repeat(70_000) } }), 'data', /65536 bytes/],
      [
        'scheduledAt in year 9999',
        sms('x', { scheduledAt: '9999-12-31T00:00:00Z' }),
        'scheduledAt',
        /365 days ahead/,
      ],
      [
        'scheduledAt 366 days ahead',
        sms('x', { scheduledAt: new Date(Date.now() + 366 * day).toISOString() }),
        'scheduledAt',
        /SCHEDULE_MAX_AHEAD_DAYS/,
      ],
    ];
    it.each(refusals)(
      'refuses %s, naming the field and the rule, storing nothing',
      async (_name, input, field, rule) => {
        const before = await count('select count(*)::int n from notification');
        const { errors } = await send(input);
        expect(errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field } });
        expect(errors?.[0].message).toMatch(new RegExp(`^${field.replace('.', '\\.')}: `));
        expect(errors?.[0].message).toMatch(rule);
        expect(await count('select count(*)::int n from notification')).toBe(before);
      },
    );

    it('accepts what sits on the limits; a scheduledAt in the past is sent now', async () => {
      const ok = [
        sms('x'.repeat(1_600)),
        sms('x', { data: JSON.parse(deepJson(32)) as Record<string, unknown> }),
        sms('x', { scheduledAt: new Date(Date.now() + 364 * day).toISOString() }),
      ];
      for (const input of ok) expect((await send(input)).errors).toBeUndefined();
      const past = await send(sms('x', { userId: 'cap-past', scheduledAt: '1970-01-01T00:00:00Z' }));
      expect(past.errors).toBeUndefined();
      const { rows } = await suite.db.query<{ due_at: Date | null }>(
        `select m.due_at from message m join notification n on n.id = m.notification_id where n.user_id = 'cap-past'`,
      );
      expect(rows).toEqual([{ due_at: null }]);
    });
  });

  describe('the other mutations and a read path name the field that holds a NUL or a lone surrogate', () => {
    const cases: [string, string, Record<string, unknown>, string][] = [
      [
        'updateContact',
        'mutation($userId: ID!, $input: ContactInput!) { updateContact(userId: $userId, input: $input) { userId } }',
        { userId: 'nul-c', input: { timezone: 'Europe/Paris\u0000' } },
        'input.timezone',
      ],
      [
        'registerDevice',
        'mutation($input: RegisterDeviceInput!) { registerDevice(input: $input) { id } }',
        { input: { userId: 'nul-d', token: 'tok\ud800' } },
        'input.token',
      ],
      [
        'updateNotificationPreferences',
        'mutation($userId: ID!, $input: NotificationPreferencesInput!) { updateNotificationPreferences(userId: $userId, input: $input) { frequency } }',
        { userId: 'nul-p', input: { types: [{ type: 'a\u0000', channel: 'SMS', enabled: false }] } },
        'input.types[0].type',
      ],
      [
        'grantConsent',
        'mutation($input: GrantConsentInput!) { grantConsent(input: $input) { id } }',
        {
          input: {
            userId: 'nul-g',
            channel: 'EMAIL',
            address: 'a@example.com',
            source: 'web',
            proof: { text: '\u0000' },
          },
        },
        'input.proof.text',
      ],
      [
        'upsertNotificationType',
        'mutation($input: NotificationTypeInput!) { upsertNotificationType(input: $input) { key } }',
        { input: { key: 'nul_type', name: 'x\u0000' } },
        'input.name',
      ],
      [
        'previewNotification',
        'query($data: JSON) { previewNotification(type: "adhoc", channel: SMS, data: $data) { body } }',
        { data: { ['k\u0000']: 1 } },
        'data',
      ],
    ];
    it.each(cases)('%s', async (_name, query, variables, field) => {
      const { errors } = await execute<unknown, Record<string, unknown>>(suite.stack.url, query, variables);
      expect(errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field } });
      expect(errors?.[0].message).toMatch(/cannot be stored/);
      expect(
        await count(
          `select ((select count(*) from contact_info where user_id like 'nul-%') + (select count(*) from device where user_id like 'nul-%') + (select count(*) from notification_preferences where user_id like 'nul-%') + (select count(*) from consent_event where user_id like 'nul-%') + (select count(*) from notification_type where key like 'nul%'))::int n`,
        ),
      ).toBe(0);
    });

    it('a read path handed a NUL answers BAD_USER_INPUT, not an internal error', async () => {
      const { errors } = await execute<unknown, Record<string, unknown>>(
        suite.stack.url,
        'query($userId: ID!) { checkConsent(userId: $userId, channel: SMS, type: "adhoc") { canSend } }',
        { userId: 'u\u0000' },
      );
      expect(errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    });
  });
});
