import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../support/stack';

/**
 * Random inputs against the main mutations: arbitrary strings (NUL, lone surrogates, huge), deep JSON, variables of
 * the wrong type, garbage documents. Property: never an HTTP 5xx, never INTERNAL_SERVER_ERROR, and a refused input
 * stores no row. Auth is off (the development caller).
 */

/** A value replaced after JSON.stringify by 5,000-deep JSON (JSON.stringify itself overflows on it). */
const DEEP_MARK = '__FUZZ_DEEP__';
const deepJson = (levels: number) => `${'{"k":'.repeat(levels)}1${'}'.repeat(levels)}`;
const nested = (levels: number) => {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i += 1) value = { k: value };
  return value;
};

const nasty = fc.constantFrom(
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\ud83d\ude00',
  '',
  '   ',
  '\u202e\u200b',
  'x'.repeat(1_601),
  'x'.repeat(70_000),
  '💥'.repeat(1_000),
);
/** Any string, biased towards what PostgreSQL and vendors refuse. */
const anyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: nasty },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
);
const channel = fc.constantFrom('EMAIL', 'SMS', 'WHATSAPP', 'PUSH');
const wrongType = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
);
const json = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 2, arbitrary: fc.dictionary(anyString, anyString, { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.constant(nested(40)) },
  { weight: 1, arbitrary: fc.constant(DEEP_MARK) },
);
const phone = fc.oneof(fc.constantFrom('+14155552671', '+15005550009', '+1 555'), anyString);
const email = fc.oneof(fc.constantFrom('a@example.com', 'bounce@sandbox.herald.dev'), anyString);

/** Ids are unique per case (a tag) with a random tail, so a refused case's rows can be looked for. */
let sequence = 0;
const tagged = (prefix: string) =>
  fc
    .oneof({ weight: 3, arbitrary: fc.constant('') }, { weight: 2, arbitrary: anyString })
    .map((tail) => `${prefix}${(sequence += 1)}-${tail}`);

const sendInput = fc.record(
  {
    userId: tagged('fz-send-'),
    type: fc.oneof(fc.constant('adhoc'), anyString),
    data: json,
    channels: fc.uniqueArray(channel, { maxLength: 4 }),
    priority: fc.constantFrom('CRITICAL', 'HIGH', 'MEDIUM', 'LOW'),
    scheduledAt: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constantFrom('9999-12-31T00:00:00Z', '0001-01-01T00:00:00Z', 'tomorrow'),
    ),
    idempotencyKey: anyString,
    to: fc.record(
      {
        email,
        phone,
        whatsapp: phone,
        deviceTokens: fc.array(anyString, { maxLength: 3 }),
        topic: anyString,
      },
      { requiredKeys: [] },
    ),
    content: fc.record(
      {
        subject: anyString,
        text: anyString,
        html: anyString,
        title: anyString,
        body: anyString,
        mediaUrls: fc.array(fc.oneof(fc.constant('https://example.com/a.png'), anyString), { maxLength: 12 }),
        imageUrl: anyString,
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['userId', 'type'] },
);

interface Case {
  query: string;
  variables: Record<string, unknown>;
  /** Rows a refused case must not have made: [sql, param] (param undefined → the check is skipped). */
  owner: { table: string; column: string; value: string }[];
  /** For a batch: each input's owner, so refused items are checked alone. */
  items?: { table: string; column: string; value: string }[];
}

const SEND = `mutation($input: SendNotificationInput!) { sendNotification(input: $input) { notification { id } } }`;
const SEND_MANY = `mutation($inputs: [SendNotificationInput!]!) { sendNotifications(inputs: $inputs) { results { index error { code message } notification { id } } } }`;

const sendCase = sendInput.map((input): Case => ({
  query: SEND,
  variables: { input },
  owner: [{ table: 'notification', column: 'user_id', value: input.userId }],
}));
const batchCase = fc.array(sendInput, { minLength: 1, maxLength: 4 }).map((inputs): Case => ({
  query: SEND_MANY,
  variables: { inputs },
  owner: inputs.map((i) => ({ table: 'notification', column: 'user_id', value: i.userId })),
  items: inputs.map((i) => ({ table: 'notification', column: 'user_id', value: i.userId })),
}));
const contactCase = fc
  .record({
    userId: tagged('fz-contact-'),
    input: fc.record(
      { email, phone, whatsapp: phone, locale: anyString, timezone: anyString },
      { requiredKeys: [] },
    ),
  })
  .map((v): Case => ({
    query: `mutation($userId: ID!, $input: ContactInput!) { updateContact(userId: $userId, input: $input) { userId } }`,
    variables: v,
    owner: [{ table: 'contact_info', column: 'user_id', value: v.userId }],
  }));
const deviceCase = fc
  .record({
    userId: tagged('fz-device-'),
    token: anyString,
    platform: fc.constantFrom('ANDROID', 'IOS', 'WEB'),
  })
  .map((input): Case => ({
    query: `mutation($input: RegisterDeviceInput!) { registerDevice(input: $input) { id } }`,
    variables: { input },
    owner: [{ table: 'device', column: 'user_id', value: input.userId }],
  }));
const preferencesCase = fc
  .record({
    userId: tagged('fz-prefs-'),
    input: fc.record(
      {
        channels: fc.array(fc.record({ channel, enabled: fc.boolean() }), { maxLength: 3 }),
        types: fc.array(fc.record({ type: anyString, channel, enabled: fc.boolean() }), { maxLength: 3 }),
        quietHours: fc.record({ start: fc.oneof(fc.constant('22:00'), anyString), end: anyString }),
        frequency: fc.constantFrom('IMMEDIATE', 'DAILY', 'WEEKLY'),
        preferredSmsTime: anyString,
        preferredEmailDay: fc.integer({ min: -2, max: 9 }),
      },
      { requiredKeys: [] },
    ),
  })
  .map((v): Case => ({
    query: `mutation($userId: ID!, $input: NotificationPreferencesInput!) { updateNotificationPreferences(userId: $userId, input: $input) { frequency } }`,
    variables: v,
    owner: [{ table: 'notification_preferences', column: 'user_id', value: v.userId }],
  }));
const consentCase = fc
  .record(
    {
      userId: tagged('fz-consent-'),
      channel,
      types: fc.array(fc.oneof(fc.constant('adhoc'), anyString), { maxLength: 2 }),
      address: fc.oneof(phone, email),
      source: anyString,
      proof: fc.record(
        { ip: anyString, userAgent: anyString, text: anyString, version: anyString },
        {
          requiredKeys: [],
        },
      ),
    },
    { requiredKeys: ['userId', 'channel', 'source'] },
  )
  .map((input): Case => ({
    query: `mutation($input: GrantConsentInput!) { grantConsent(input: $input) { id status } }`,
    variables: { input },
    owner: [
      { table: 'consent', column: 'user_id', value: input.userId },
      { table: 'consent_event', column: 'user_id', value: input.userId },
    ],
  }));
const typeCase = fc
  .record(
    {
      key: fc.oneof(fc.constant(''), anyString).map((tail) => `fz_${(sequence += 1)}${tail}`),
      name: anyString,
      description: anyString,
      category: fc.constantFrom('TRANSACTIONAL', 'MARKETING'),
      defaultChannels: fc.uniqueArray(channel, { maxLength: 4 }),
      templates: fc.array(
        fc.record(
          {
            channel,
            locale: anyString,
            subject: anyString,
            text: anyString,
            html: anyString,
            body: anyString,
          },
          { requiredKeys: ['channel'] },
        ),
        { maxLength: 2 },
      ),
    },
    { requiredKeys: ['key'] },
  )
  .map((input): Case => ({
    query: `mutation($input: NotificationTypeInput!) { upsertNotificationType(input: $input) { key } }`,
    variables: { input },
    owner: [{ table: 'notification_type', column: 'key', value: input.key }],
  }));
/** A valid case with one variable (or one field of the input) replaced by a value of the wrong type. */
const wrongVariableCase = fc
  .tuple(fc.oneof(sendCase, contactCase, deviceCase, consentCase), wrongType, fc.nat())
  .map(([c, wrong, pick]): Case => {
    const names = Object.keys(c.variables);
    const name = names[pick % names.length];
    const value = c.variables[name];
    const variables = { ...c.variables };
    if (value && typeof value === 'object' && !Array.isArray(value) && pick % 2 === 0) {
      const fields = Object.keys(value);
      variables[name] = { ...value, [fields[pick % fields.length]]: wrong };
    } else variables[name] = wrong;
    return { ...c, variables };
  });
/** Documents that are not what the schema expects: garbage, literal arguments with nasty strings. */
const documentCase = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 60 }),
    anyString.map(
      (s) =>
        `mutation { sendNotification(input: { userId: ${JSON.stringify(s)}, type: "adhoc", channels: [SMS], to: { phone: "+14155552671" }, content: { body: ${JSON.stringify(s)} } }) { notification { id } } }`,
    ),
    fc.constant(
      `mutation { sendNotification(input: { userId: "fz-literal", type: "adhoc", channels: [SMS], to: { phone: "+14155552671" }, content: { body: "x" }, data: ${'{k:'.repeat(3_000)}1${'}'.repeat(3_000)} }) { notification { id } } }`,
    ),
  )
  .map((query): Case => ({ query, variables: {}, owner: [] }));

const anyCase = fc.oneof(
  { weight: 4, arbitrary: sendCase },
  { weight: 2, arbitrary: batchCase },
  { weight: 2, arbitrary: contactCase },
  { weight: 2, arbitrary: deviceCase },
  { weight: 2, arbitrary: preferencesCase },
  { weight: 2, arbitrary: consentCase },
  { weight: 2, arbitrary: typeCase },
  { weight: 2, arbitrary: wrongVariableCase },
  { weight: 1, arbitrary: documentCase },
);

interface Answer {
  status: number;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
}

describe('fuzzing the edge: random inputs against the main mutations', () => {
  let stack: TestStack;
  let db: pg.Client;

  beforeAll(async () => {
    stack = await startStack();
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  const post = async (c: Case): Promise<Answer> => {
    const body = JSON.stringify({ query: c.query, variables: c.variables }).replaceAll(
      `"${DEEP_MARK}"`,
      deepJson(5_000),
    );
    const response = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = await response.text();
    let parsed: Answer['body'] = {};
    try {
      parsed = JSON.parse(text) as Answer['body'];
    } catch {
      // a non-JSON answer (e.g. 413 from the body limit) is checked by its status alone
    }
    return { status: response.status, body: parsed };
  };

  /** Rows a refused case left behind (only values PostgreSQL can search for are looked up). */
  const leftovers = async (owners: Case['owner']) => {
    let found = 0;
    for (const { table, column, value } of owners) {
      if (value.includes('\u0000') || /\p{Cs}/u.test(value)) continue;
      const { rows } = await db.query<{ n: number }>(
        `select count(*)::int n from ${table} where ${column} = $1 or ${column} = btrim($1)`,
        [value],
      );
      found += rows[0].n;
    }
    return found;
  };

  it('never answers 5xx or INTERNAL_SERVER_ERROR, and a refused input stores nothing (1,000 cases)', async () => {
    const seen = { cases: 0, refused: 0, accepted: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(anyCase, { minLength: 8, maxLength: 8 }), async (cases) => {
        const answers = await Promise.all(cases.map(post));
        for (const [i, answer] of answers.entries()) {
          const c = cases[i];
          seen.cases += 1;
          const where = `${c.query.slice(0, 60)} → ${JSON.stringify(answer.body).slice(0, 300)}`;
          expect(answer.status, where).toBeLessThan(500);
          const codes = (answer.body.errors ?? []).map((e) => e.extensions?.code);
          expect(codes, where).not.toContain('INTERNAL_SERVER_ERROR');
          const results = (
            answer.body.data?.sendNotifications as
              { results: { index: number; error: { code: string } | null }[] } | undefined
          )?.results;
          results?.forEach((r) => expect(r.error?.code, where).not.toBe('INTERNAL_SERVER_ERROR'));
          const refused = Boolean(answer.body.errors?.length) || !answer.body.data;
          if (refused) {
            seen.refused += 1;
            expect(await leftovers(c.owner), where).toBe(0);
          } else {
            seen.accepted += 1;
            const refusedItems = (results ?? []).filter((r) => r.error).map((r) => c.items![r.index]);
            expect(await leftovers(refusedItems), where).toBe(0);
          }
        }
      }),
      { numRuns: 125 },
    );
    expect(seen.cases).toBeGreaterThanOrEqual(1_000);
    // Both sides of the property were exercised.
    expect(seen.refused).toBeGreaterThan(100);
    expect(seen.accepted).toBeGreaterThan(20);
    expect((await fetch(`${stack.url.replace(/\/graphql$/, '')}/health`)).status).toBe(200);
  }, 300_000);
});
