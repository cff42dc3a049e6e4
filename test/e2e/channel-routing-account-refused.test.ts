import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_EMULATOR_CREDENTIALS } from '../../src/sandbox/emulator';
import { execute, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

/**
 * Break round 13b, finding F1: a vendor refusing the ACCOUNT (Twilio 20003 "Authenticate", AWS
 * UnrecognizedClientException, SendGrid 401) fails the message over at once to the next route of the tenant's
 * order (its next config, then the shared accounts), counts toward that route's circuit, and shows on the config's
 * validation; only with no route left does the message end FAILED, with the vendor's code. Break round b13c,
 * finding 2: a config whose sender the account does not own (Twilio 21606) is refused the same way.
 */
const SECRET = 'account-refused-test-secret-long-enough!';
const SHARED_SID = SANDBOX_EMULATOR_CREDENTIALS.twilio.accountSid;
const SHARED_KEY = SANDBOX_EMULATOR_CREDENTIALS.sendgrid.apiKey;
/** An emulated Twilio account and the number it owns (the emulator refuses any other From with 21606). */
const twilioAccount = (letter: string) => ({
  accountSid: `AC${letter.repeat(32)}`,
  authToken: `token-${letter}-${randomBytes(8).toString('hex')}`,
  number: `+1415555010${letter}`,
});
const A1 = twilioAccount('1');
const A2 = twilioAccount('2');
const B1 = twilioAccount('3');
const C1 = twilioAccount('4');
const F1 = twilioAccount('5');
const F2 = twilioAccount('6');
const G1 = twilioAccount('7');
const H1 = twilioAccount('8');
const J1 = {
  accountSid: `AC${'a'.repeat(32)}`,
  authToken: `token-j-${randomBytes(8).toString('hex')}`,
  number: '+14155550190',
};
const I1 = twilioAccount('9');
/** Twilio's answer to revoked or wrong credentials (https://www.twilio.com/docs/api/errors/20003). */
const AUTHENTICATE = { vendor: 'twilio' as const, status: 401, code: 20003 };

const token = (tenant: string) =>
  new SignJWT({ tenant, scope: 'admin communication:send communication:read' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(`${tenant}-admin`)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));

interface Row {
  id: string;
  channel: string;
  status: string;
  provider: string | null;
  channel_config_id: string | null;
  error_code: string | null;
  error_message: string | null;
  provider_failures: Record<string, number>;
}

describe('a refused account fails over to the next route (break round 13b, F1)', () => {
  let stack: TestStack;
  let db: pg.Client;
  const bearer: Record<string, string> = {};
  const ids: Record<string, string> = {};

  const gql = <T>(query: string, variables: Record<string, unknown>, tenant: string) =>
    execute<T, Record<string, unknown>>(stack.url, query, variables, bearer[tenant]);

  const createConfig = async (tenant: string, input: Record<string, unknown>) => {
    const result = await gql<{ createChannelConfig: { id: string; active: boolean } }>(
      `mutation ($input: CreateChannelConfigInput!) { createChannelConfig(input: $input) { id active } }`,
      { input },
      tenant,
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.createChannelConfig.active).toBe(true);
    return result.data!.createChannelConfig.id;
  };
  const twilioConfig = (name: string, account: typeof A1, position: number, fromNumber = account.number) => ({
    name,
    channel: 'SMS',
    provider: 'twilio-sms',
    position,
    senders: { fromNumber },
    identifiers: { accountSid: account.accountSid },
    credentials: { authToken: account.authToken },
  });
  const useShared = async (tenant: string, on: boolean) => {
    const result = await gql(
      `mutation ($on: Boolean!) { updateTenantSettings(input: { useSharedProviders: $on }) { useSharedProviders } }`,
      { on },
      tenant,
    );
    expect(result.errors).toBeUndefined();
  };

  const send = async (tenant: string, channel: string) => {
    const result = await gql<{ sendNotification: { notification: { messages: { id: string }[] } } }>(
      `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { messages { id } } } }`,
      {
        input: {
          userId: `u-${randomUUID()}`,
          type: 'adhoc',
          channels: [channel],
          to: { phone: '+14155552671', email: 'someone@example.com' },
          content: { subject: 'hello', text: 'hello', body: 'hello' },
        },
      },
      tenant,
    );
    expect(result.errors).toBeUndefined();
    return result.data!.sendNotification.notification.messages[0].id;
  };

  /** Sends one message and waits until it is SENT or FAILED; answers its row. */
  const sendSettled = async (tenant: string, channel: string): Promise<Row> => {
    const id = await send(tenant, channel);
    return waitFor(
      async () => {
        const { rows } = await db.query<Row>(
          `select id, channel, status, provider, channel_config_id, error_code, error_message, provider_failures
             from message where id = $1`,
          [id],
        );
        return rows[0] && ['SENT', 'FAILED'].includes(rows[0].status) ? rows[0] : undefined;
      },
      60_000,
      `message ${id} settled`,
    );
  };

  const twilioAccountsCalled = () =>
    stack.emulator.emulator
      .recorded('twilio')
      .filter((r) => r.path.includes('/Messages.json'))
      .map((r) => /\/Accounts\/(AC\w+)\//.exec(r.path)?.[1]);
  const emailVendorsCalled = () =>
    stack.emulator.emulator
      .recorded()
      .filter(
        (r) =>
          (r.vendor === 'sendgrid' && r.path.includes('/mail/send')) ||
          (r.vendor === 'ses' && r.path.includes('/outbound-emails')),
      )
      .map((r) => r.vendor);

  const validationOf = async (tenant: string, id: string) => {
    const result = await gql<{
      channelConfigs: {
        id: string;
        active: boolean;
        validation: { ok: boolean | null; error: string | null };
      }[];
    }>(`query { channelConfigs { id active validation { ok checkedAt error } } }`, {}, tenant);
    expect(result.errors).toBeUndefined();
    return result.data!.channelConfigs.find((c) => c.id === id)!;
  };
  const versionOf = async (id: string) =>
    (await db.query<{ version: number }>('select version from channel_config where id = $1', [id])).rows[0]
      .version;

  beforeAll(async () => {
    stack = await startStack({
      extraEnv: {
        JWT_SECRET: SECRET,
        CONFIG_ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}`,
        CHANNEL_CONFIG_ROUTES_TTL_MS: '0',
        DISPATCH_MAX_ATTEMPTS: '3',
        // Two consecutive refusals open a config's circuit.
        CIRCUIT_FAILURE_THRESHOLD: '2',
        CIRCUIT_HALF_OPEN_AFTER_MS: '600000',
        // A second shared email provider, for a refused shared account to fail over to.
        EMAIL_PROVIDERS: 'sendgrid,ses',
      },
    });
    const emulator = stack.emulator.emulator;
    for (const { number, ...account } of [A1, A2, B1, C1, F1, F2, G1, H1, J1])
      emulator.addAccount({ twilio: { ...account, numbers: [{ number }] } });
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    for (const tenant of [
      'refuse-a',
      'refuse-b',
      'refuse-c',
      'refuse-d',
      'refuse-e',
      'refuse-f',
      'refuse-g',
      'refuse-h',
      'refuse-j',
    ])
      bearer[tenant] = await token(tenant);
    ids.a1 = await createConfig('refuse-a', twilioConfig('a-sms-1', A1, 0));
    ids.a2 = await createConfig('refuse-a', twilioConfig('a-sms-2', A2, 1));
    ids.b1 = await createConfig('refuse-b', twilioConfig('b-sms', B1, 0));
    ids.c1 = await createConfig('refuse-c', twilioConfig('c-sms', C1, 0));
    // F1's config sends from F2's number (a typo, or a number moved to another account): Twilio answers 21606.
    ids.f1 = await createConfig('refuse-f', twilioConfig('f-sms-1', F1, 0, F2.number));
    ids.f2 = await createConfig('refuse-f', twilioConfig('f-sms-2', F2, 1));
    ids.g1 = await createConfig('refuse-g', twilioConfig('g-sms', G1, 0, '+14155550199'));
    ids.h1 = await createConfig('refuse-h', twilioConfig('h-sms', H1, 0));
    ids.j1 = await createConfig('refuse-j', twilioConfig('j-sms', J1, 0));
  });

  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  it('Twilio 20003 on the first config: delivered through the second at once; the config shows ok false; its circuit opens', async () => {
    const emulator = stack.emulator.emulator;
    emulator.reset();
    emulator.injectFault({ ...AUTHENTICATE, account: A1.accountSid, count: 1_000 });
    const versionBefore = await versionOf(ids.a1);

    const first = await sendSettled('refuse-a', 'SMS');
    expect(first).toMatchObject({ status: 'SENT', provider: 'twilio-sms', channel_config_id: ids.a2 });
    // One request to the refused account, no backoff retries on it: it is used up for this message.
    expect(twilioAccountsCalled()).toEqual([A1.accountSid, A2.accountSid]);
    expect(first.provider_failures).toEqual({ [`config:${ids.a1}`]: 3 });
    const { rows: events } = await db.query<{
      status: string;
      error_code: string | null;
      error_message: string;
    }>(
      `select status, error_code, error_message from delivery_event where message_id = $1 order by occurred_at, id`,
      [first.id],
    );
    expect(events.find((e) => e.status === 'SCHEDULED')).toMatchObject({ error_code: '20003' });
    expect(events.find((e) => e.status === 'SCHEDULED')!.error_message).toMatch(/refused the account/);

    // Admins see it on the config, which stays active; its version (credentials and settings) is unchanged.
    const config = await waitFor(
      async () => {
        const c = await validationOf('refuse-a', ids.a1);
        return c.validation.ok === false ? c : undefined;
      },
      30_000,
      'config a1 marked refused',
    );
    expect(config.active).toBe(true);
    expect(config.validation.error).toMatch(/20003/);
    expect(config.validation.error).not.toContain(A1.authToken);
    expect(await versionOf(ids.a1)).toBe(versionBefore);
    expect((await validationOf('refuse-a', ids.a2)).validation.ok).toBe(true);

    // A second refusal opens A1's circuit (threshold 2); the next message goes to A2 without asking A1.
    emulator.reset();
    emulator.injectFault({ ...AUTHENTICATE, account: A1.accountSid, count: 1_000 });
    expect(await sendSettled('refuse-a', 'SMS')).toMatchObject({ status: 'SENT', channel_config_id: ids.a2 });
    const health = await stack.herald.services.circuits.health([`config:${ids.a1}`, `config:${ids.a2}`]);
    expect(health[`config:${ids.a1}`].circuit).toBe('open');
    expect(health[`config:${ids.a2}`].circuit).toBe('closed');
    emulator.reset();
    emulator.injectFault({ ...AUTHENTICATE, account: A1.accountSid, count: 1_000 });
    expect(await sendSettled('refuse-a', 'SMS')).toMatchObject({ status: 'SENT', channel_config_id: ids.a2 });
    expect(twilioAccountsCalled()).toEqual([A2.accountSid]);
  });

  it('one config, shared accounts on: a refused account is delivered through the shared account; a later success clears the refusal', async () => {
    const emulator = stack.emulator.emulator;
    emulator.reset();
    emulator.injectFault({ ...AUTHENTICATE, account: B1.accountSid, count: 1_000 });
    const row = await sendSettled('refuse-b', 'SMS');
    expect(row).toMatchObject({ status: 'SENT', provider: 'twilio-sms', channel_config_id: null });
    expect(twilioAccountsCalled()).toEqual([B1.accountSid, SHARED_SID]);
    await waitFor(
      async () => ((await validationOf('refuse-b', ids.b1)).validation.ok === false ? true : undefined),
      30_000,
      'config b1 marked refused',
    );

    // The tenant repairs its account (B1's circuit saw one refusal, under the threshold): B1 sends again, and its
    // validation says so.
    emulator.reset();
    expect(await sendSettled('refuse-b', 'SMS')).toMatchObject({ status: 'SENT', channel_config_id: ids.b1 });
    const repaired = await waitFor(
      async () => {
        const c = await validationOf('refuse-b', ids.b1);
        return c.validation.ok === true ? c : undefined;
      },
      30_000,
      'config b1 ok again',
    );
    expect(repaired.validation.error).toBeNull();
  });

  it('one config, shared accounts off: FAILED with the vendor’s 20003, no request to the shared account', async () => {
    await useShared('refuse-c', false);
    const emulator = stack.emulator.emulator;
    emulator.reset();
    emulator.injectFault({ ...AUTHENTICATE, account: C1.accountSid, count: 1_000 });
    const row = await sendSettled('refuse-c', 'SMS');
    expect(row).toMatchObject({ status: 'FAILED', error_code: '20003', channel_config_id: ids.c1 });
    expect(row.error_message).toMatch(/refused the account/);
    expect(twilioAccountsCalled()).toEqual([C1.accountSid]);
    expect((await validationOf('refuse-c', ids.c1)).validation.ok).toBe(false);
  });

  it('shared accounts off, the only config refused and its circuit open: the next messages end FAILED with the vendor’s code at once, without waiting for the circuit (break round b13c, finding 1)', async () => {
    await useShared('refuse-h', false);
    const emulator = stack.emulator.emulator;
    emulator.reset();
    emulator.injectFault({ ...AUTHENTICATE, account: H1.accountSid, count: 1_000 });
    // Two refusals (the threshold) open F1's circuit for ten minutes.
    for (let i = 0; i < 2; i++) {
      expect(await sendSettled('refuse-h', 'SMS')).toMatchObject({ status: 'FAILED', error_code: '20003' });
    }
    await waitFor(
      async () => ((await validationOf('refuse-h', ids.h1)).validation.ok === false ? true : undefined),
      30_000,
      'config h1 marked refused',
    );
    const health = await stack.herald.services.circuits.health([`config:${ids.h1}`]);
    expect(health[`config:${ids.h1}`].circuit).toBe('open');
    emulator.reset();

    // Before the fix these waited SCHEDULED CIRCUIT_OPEN for the ten-minute pause (and woke, claimed and wrote their
    // history again at every pause after it).
    const rows = await Promise.all(Array.from({ length: 5 }, () => sendSettled('refuse-h', 'SMS')));
    for (const row of rows) {
      expect(row).toMatchObject({ status: 'FAILED', error_code: '20003', channel_config_id: ids.h1 });
      expect(row.error_message).toMatch(/refused the account/);
      expect(row.provider_failures).toEqual({ [`config:${ids.h1}`]: 3 });
    }
    // No request reached the refused account, and each message's history is one pass: QUEUED, SENDING, FAILED.
    expect(twilioAccountsCalled()).toEqual([]);
    const { rows: events } = await db.query<{ message_id: string; n: number }>(
      `select message_id, count(*)::int as n from delivery_event where message_id = any($1) group by message_id`,
      [rows.map((r) => r.id)],
    );
    expect(events.map((e) => e.n)).toEqual([3, 3, 3, 3, 3]);
  });

  it('a config once refused, then down for an outage: its messages wait for the circuit, not FAILED with the old refusal (break round b13d, finding 1)', async () => {
    await useShared('refuse-j', false);
    const emulator = stack.emulator.emulator;
    emulator.reset();
    emulator.injectFault({ ...AUTHENTICATE, account: J1.accountSid, count: 1 });
    expect(await sendSettled('refuse-j', 'SMS')).toMatchObject({ status: 'FAILED', error_code: '20003' });
    await waitFor(
      async () => ((await validationOf('refuse-j', ids.j1)).validation.ok === false ? true : undefined),
      30_000,
      'config j1 marked refused',
    );
    // The account is repaired, and then the vendor has an outage: its 503s open the circuit (threshold 2).
    emulator.reset();
    emulator.injectFault({ vendor: 'twilio', status: 503, account: J1.accountSid, count: 1_000 });
    const id = await send('refuse-j', 'SMS');
    const held = await waitFor(
      async () => {
        const { rows } = await db.query<Row>(
          `select id, channel, status, provider, channel_config_id, error_code, error_message, provider_failures
             from message where id = $1`,
          [id],
        );
        const row = rows[0];
        if (row?.status === 'FAILED') return row;
        return row?.status === 'SCHEDULED' && row.error_code === 'CIRCUIT_OPEN' ? row : undefined;
      },
      60_000,
      `message ${id} held by the open circuit`,
    );
    // Before the fix: FAILED 20003, from the config's stale mark.
    expect(held).toMatchObject({ status: 'SCHEDULED', error_code: 'CIRCUIT_OPEN' });
    emulator.reset();
  });

  it('SES UnrecognizedClientException on a tenant’s SES config fails over to the shared SendGrid', async () => {
    // The account validates (the emulator knows its key), then AWS stops recognising the key (deleted at IAM): every
    // request answers 403 UnrecognizedClientException, as AWS does for an unknown access key.
    const key = {
      accessKeyId: 'AKIAQQQQQQQQQQQQQQQQ',
      secretAccessKey: `ses-${randomBytes(8).toString('hex')}`,
    };
    stack.emulator.emulator.addAccount({ aws: key });
    const ses = await createConfig('refuse-d', {
      name: 'd-ses',
      channel: 'EMAIL',
      provider: 'ses',
      senders: { fromEmail: 'news@refuse-d.example' },
      identifiers: { accessKeyId: key.accessKeyId, region: 'us-east-1' },
      credentials: { secretAccessKey: key.secretAccessKey },
    });
    stack.emulator.emulator.reset();
    stack.emulator.emulator.injectFault({
      vendor: 'ses',
      status: 403,
      code: 'UnrecognizedClientException',
      account: key.accessKeyId,
      count: 1_000,
    });
    const row = await sendSettled('refuse-d', 'EMAIL');
    expect(row).toMatchObject({ status: 'SENT', provider: 'sendgrid', channel_config_id: null });
    expect(row.provider_failures).toEqual({ [`config:${ses}`]: 3 });
    expect(emailVendorsCalled()).toEqual(['ses', 'sendgrid']);
  });

  it('a refused shared account fails over to the next shared provider of the channel', async () => {
    const emulator = stack.emulator.emulator;
    emulator.reset();
    emulator.injectFault({ vendor: 'sendgrid', status: 401, account: SHARED_KEY, count: 1 });
    const row = await sendSettled('refuse-e', 'EMAIL');
    expect(row).toMatchObject({ status: 'SENT', provider: 'ses', channel_config_id: null });
    expect(emailVendorsCalled()).toEqual(['sendgrid', 'ses']);
  });
  it('a sender the account does not own (Twilio 21606) fails over to the next config at once; the config shows ok false with the code', async () => {
    const emulator = stack.emulator.emulator;
    emulator.reset();
    const row = await sendSettled('refuse-f', 'SMS');
    expect(row).toMatchObject({ status: 'SENT', provider: 'twilio-sms', channel_config_id: ids.f2 });
    // One request to F1 (refused for its From), none of the backoff retries an outage gets.
    expect(twilioAccountsCalled()).toEqual([F1.accountSid, F2.accountSid]);
    const refused = emulator.recorded('twilio').find((r) => r.path.includes(F1.accountSid))!;
    expect(refused).toMatchObject({ status: 400, body: { From: F2.number } });
    expect((refused.response as { code: number }).code).toBe(21606);
    expect(row.provider_failures).toEqual({ [`config:${ids.f1}`]: 3 });
    const config = await waitFor(
      async () => {
        const c = await validationOf('refuse-f', ids.f1);
        return c.validation.ok === false ? c : undefined;
      },
      30_000,
      'config f1 marked refused',
    );
    expect(config.active).toBe(true);
    expect(config.validation.error).toMatch(/^refused at send \(21606\): /);
    expect((await validationOf('refuse-f', ids.f2)).validation.ok).toBe(true);
  });

  it('a sender the account does not own with no route left: FAILED with 21606, the config shows it', async () => {
    await useShared('refuse-g', false);
    const emulator = stack.emulator.emulator;
    emulator.reset();
    const row = await sendSettled('refuse-g', 'SMS');
    expect(row).toMatchObject({ status: 'FAILED', error_code: '21606', channel_config_id: ids.g1 });
    expect(row.error_message).toMatch(/refused the account/);
    expect(twilioAccountsCalled()).toEqual([G1.accountSid]);
    const config = await waitFor(
      async () => {
        const c = await validationOf('refuse-g', ids.g1);
        return c.validation.ok === false ? c : undefined;
      },
      30_000,
      'config g1 marked refused',
    );
    expect(config.validation.error).toMatch(/21606/);
  });
});

describe('a send through a config marked refused clears the mark at once, whatever the routes cache holds (break round b13c, finding 6)', () => {
  let stack: TestStack;
  let db: pg.Client;
  let bearer: string;

  beforeAll(async () => {
    stack = await startStack({
      extraEnv: {
        JWT_SECRET: SECRET,
        CONFIG_ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}`,
        // Far longer than the test: the refusal must reach the next send without waiting the cache out.
        CHANNEL_CONFIG_ROUTES_TTL_MS: '600000',
        DISPATCH_MAX_ATTEMPTS: '3',
      },
    });
    const { number, ...account } = I1;
    stack.emulator.emulator.addAccount({ twilio: { ...account, numbers: [{ number }] } });
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    bearer = await token('refuse-i');
  });

  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  const send = async () => {
    const result = await execute<
      { sendNotification: { notification: { messages: { id: string }[] } } },
      Record<string, unknown>
    >(
      stack.url,
      `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { messages { id } } } }`,
      {
        input: {
          userId: `u-${randomUUID()}`,
          type: 'adhoc',
          channels: ['SMS'],
          to: { phone: '+14155552671' },
          content: { text: 'hello' },
        },
      },
      bearer,
    );
    expect(result.errors).toBeUndefined();
    const id = result.data!.sendNotification.notification.messages[0].id;
    return waitFor(
      async () => {
        const { rows } = await db.query<{ status: string; channel_config_id: string | null }>(
          'select status, channel_config_id from message where id = $1',
          [id],
        );
        return rows[0] && ['SENT', 'FAILED'].includes(rows[0].status) ? rows[0] : undefined;
      },
      60_000,
      `message ${id} settled`,
    );
  };
  const validation = async (id: string) =>
    (
      await db.query<{ validation_ok: boolean | null; validation_error: string | null }>(
        'select validation_ok, validation_error from channel_config where id = $1',
        [id],
      )
    ).rows[0];

  it('refused once, then repaired: the very next send through it shows ok again', async () => {
    const created = await execute<{ createChannelConfig: { id: string } }, Record<string, unknown>>(
      stack.url,
      `mutation ($input: CreateChannelConfigInput!) { createChannelConfig(input: $input) { id } }`,
      {
        input: {
          name: 'g-sms',
          channel: 'SMS',
          provider: 'twilio-sms',
          senders: { fromNumber: I1.number },
          identifiers: { accountSid: I1.accountSid },
          credentials: { authToken: I1.authToken },
        },
      },
      bearer,
    );
    expect(created.errors).toBeUndefined();
    const id = created.data!.createChannelConfig.id;
    const emulator = stack.emulator.emulator;
    emulator.injectFault({ ...AUTHENTICATE, account: I1.accountSid, count: 1 });
    // Refused: delivered through the shared account, the config marked.
    expect(await send()).toMatchObject({ status: 'SENT', channel_config_id: null });
    await waitFor(
      async () => ((await validation(id)).validation_ok === false ? true : undefined),
      30_000,
      'config marked refused',
    );
    // The next send goes through the repaired config and clears the mark, long before the cache's ten minutes.
    expect(await send()).toMatchObject({ status: 'SENT', channel_config_id: id });
    const cleared = await waitFor(
      async () => {
        const v = await validation(id);
        return v.validation_ok === true ? v : undefined;
      },
      30_000,
      'config ok again',
    );
    expect(cleared.validation_error).toBeNull();
  });
});
