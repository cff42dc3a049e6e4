import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_EMULATOR_CREDENTIALS } from '../../src/sandbox/emulator';
import { execute, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

/**
 * Issue 13 point 4 end to end: dispatch sends each tenant's messages through its own channel configs (emulated
 * vendor accounts with their own credentials), fails over within them, then to the service-wide accounts unless the
 * tenant's useSharedProviders is false, with circuits kept per config.
 */
const SECRET = 'channel-routing-test-secret-long-enough!';
const SHARED_SID = SANDBOX_EMULATOR_CREDENTIALS.twilio.accountSid;
const SHARED_KEY = SANDBOX_EMULATOR_CREDENTIALS.sendgrid.apiKey;
/** An emulated Twilio account and the number it owns (the emulator refuses any other From with 21606). */
const twilioAccount = (letter: string, number: string) => ({
  accountSid: `AC${letter.repeat(32)}`,
  authToken: `token-${letter}-${randomBytes(8).toString('hex')}`,
  number,
});
const A1 = twilioAccount('a', '+14155550101');
const A2 = twilioAccount('c', '+14155550102');
const B1 = twilioAccount('b', '+14155550103');
const A_KEY = `SG.route-a.${randomBytes(12).toString('hex')}`;
const B_KEY = `SG.route-b.${randomBytes(12).toString('hex')}`;
const SECRETS = [A1.authToken, A2.authToken, B1.authToken, A_KEY, B_KEY];

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
}

describe('dispatch through each tenant’s own channel configs (issue 13, point 4)', () => {
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
  const twilioConfig = (name: string, account: typeof A1, position: number) => ({
    name,
    channel: 'SMS',
    provider: 'twilio-sms',
    position,
    senders: { fromNumber: account.number },
    identifiers: { accountSid: account.accountSid },
    credentials: { authToken: account.authToken },
  });
  const sendgridConfig = (name: string, apiKey: string) => ({
    name,
    channel: 'EMAIL',
    provider: 'sendgrid',
    senders: { fromEmail: `news@${name}.example` },
    credentials: { apiKey },
  });

  /** Sends one notification per channel list; answers its message ids. */
  const send = async (tenant: string, channels: string[]) => {
    const result = await gql<{ sendNotification: { notification: { messages: { id: string }[] } } }>(
      `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { messages { id } } } }`,
      {
        input: {
          userId: `u-${randomUUID()}`,
          type: 'adhoc',
          channels,
          to: { phone: '+14155552671', email: 'someone@example.com' },
          content: { subject: 'hello', text: 'hello', body: 'hello' },
        },
      },
      tenant,
    );
    expect(result.errors).toBeUndefined();
    return result.data!.sendNotification.notification.messages.map((m) => m.id);
  };

  /** Waits until every message is SENT or FAILED; answers their rows. */
  const settled = async (messageIds: string[]): Promise<Row[]> =>
    waitFor(
      async () => {
        const { rows } = await db.query<Row>(
          `select id, channel, status, provider, channel_config_id, error_code from message where id = any($1)`,
          [messageIds],
        );
        return rows.length === messageIds.length && rows.every((r) => ['SENT', 'FAILED'].includes(r.status))
          ? rows
          : undefined;
      },
      30_000,
      `messages ${messageIds.join(', ')} settled`,
    );

  const twilioAccountsCalled = () =>
    stack.emulator.emulator
      .recorded('twilio')
      .filter((r) => r.path.includes('/Messages.json'))
      .map((r) => /\/Accounts\/(AC\w+)\//.exec(r.path)?.[1]);
  // Recordings keep a SendGrid key's id only (`Bearer SG.<key id>.***`): enough to tell the accounts apart.
  const sendgridKeysUsed = () =>
    stack.emulator.emulator
      .recorded('sendgrid')
      .filter((r) => r.path.includes('/mail/send'))
      .map((r) => r.headers.authorization?.replace(/^Bearer /, ''));
  const redactedKey = (apiKey: string) => apiKey.replace(/\.[^.]+$/, '.***');

  beforeAll(async () => {
    stack = await startStack({
      extraEnv: {
        JWT_SECRET: SECRET,
        CONFIG_ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}`,
        // Read the order before every send, so a settings change applies to the next message.
        CHANNEL_CONFIG_ROUTES_TTL_MS: '0',
        DISPATCH_MAX_ATTEMPTS: '2',
        CIRCUIT_FAILURE_THRESHOLD: '5',
        CIRCUIT_HALF_OPEN_AFTER_MS: '600000',
      },
    });
    const emulator = stack.emulator.emulator;
    const twilio = ({ number, ...account }: typeof A1) => ({ ...account, numbers: [{ number }] });
    emulator.addAccount({ twilio: twilio(A1), sendgrid: { apiKey: A_KEY } });
    emulator.addAccount({ twilio: twilio(A2) });
    emulator.addAccount({ twilio: twilio(B1), sendgrid: { apiKey: B_KEY } });
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    for (const tenant of ['route-a', 'route-b', 'route-c']) bearer[tenant] = await token(tenant);
    ids.a1 = await createConfig('route-a', twilioConfig('a-sms-1', A1, 0));
    ids.a2 = await createConfig('route-a', twilioConfig('a-sms-2', A2, 1));
    ids.aEmail = await createConfig('route-a', sendgridConfig('a-email', A_KEY));
    ids.b1 = await createConfig('route-b', twilioConfig('b-sms', B1, 0));
    ids.bEmail = await createConfig('route-b', sendgridConfig('b-email', B_KEY));
  });

  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  it('each tenant’s SMS and email reach the vendor with its own account; a tenant without configs uses the shared ones', async () => {
    const emulator = stack.emulator.emulator;
    const cases = [
      { tenant: 'route-a', sid: A1.accountSid, key: A_KEY, sms: ids.a1, email: ids.aEmail },
      { tenant: 'route-b', sid: B1.accountSid, key: B_KEY, sms: ids.b1, email: ids.bEmail },
      { tenant: 'route-c', sid: SHARED_SID, key: SHARED_KEY, sms: null, email: null },
    ];
    for (const c of cases) {
      emulator.reset();
      const rows = await settled(await send(c.tenant, ['SMS', 'EMAIL']));
      const sms = rows.find((r) => r.channel === 'SMS')!;
      const email = rows.find((r) => r.channel === 'EMAIL')!;
      expect(sms, c.tenant).toMatchObject({
        status: 'SENT',
        provider: 'twilio-sms',
        channel_config_id: c.sms,
      });
      expect(email, c.tenant).toMatchObject({
        status: 'SENT',
        provider: 'sendgrid',
        channel_config_id: c.email,
      });
      expect(twilioAccountsCalled(), c.tenant).toEqual([c.sid]);
      expect(sendgridKeysUsed(), c.tenant).toEqual([redactedKey(c.key)]);
    }
  });

  it('useSharedProviders false: A’s two failing configs end FAILED, never reaching the shared account', async () => {
    const emulator = stack.emulator.emulator;
    emulator.reset();
    const off = await gql<{ updateTenantSettings: { useSharedProviders: boolean } }>(
      `mutation { updateTenantSettings(input: { useSharedProviders: false }) { useSharedProviders } }`,
      {},
      'route-a',
    );
    expect(off.errors).toBeUndefined();
    expect(off.data!.updateTenantSettings.useSharedProviders).toBe(false);
    for (const account of [A1, A2])
      emulator.injectFault({ vendor: 'twilio', account: account.accountSid, count: 1_000, status: 503 });

    const [row] = await settled(await send('route-a', ['SMS']));
    expect(row).toMatchObject({ status: 'FAILED', error_code: 'MAX_ATTEMPTS' });
    // DISPATCH_MAX_ATTEMPTS (2) on each of A's configs, in A's order; the shared account never.
    expect(twilioAccountsCalled()).toEqual([A1.accountSid, A1.accountSid, A2.accountSid, A2.accountSid]);
    const { rows: failures } = await db.query<{ provider_failures: Record<string, number> }>(
      'select provider_failures from message where id = $1',
      [row.id],
    );
    expect(failures[0].provider_failures).toEqual({ [`config:${ids.a1}`]: 2, [`config:${ids.a2}`]: 2 });

    const on = await gql(
      `mutation { updateTenantSettings(input: { useSharedProviders: true }) { useSharedProviders } }`,
      {},
      'route-a',
    );
    expect(on.errors).toBeUndefined();
  });

  it('failover: A’s first config failing goes to A’s second, then to the shared account; its circuit opens alone', async () => {
    const emulator = stack.emulator.emulator;
    emulator.reset();
    emulator.injectFault({ vendor: 'twilio', account: A1.accountSid, count: 1_000, status: 503 });

    // Three sends: A1 fails (503) until their attempts or its circuit (5 consecutive failures) are used up.
    const toSecond = await settled([
      ...(await send('route-a', ['SMS'])),
      ...(await send('route-a', ['SMS'])),
      ...(await send('route-a', ['SMS'])),
    ]);
    for (const row of toSecond)
      expect(row).toMatchObject({ status: 'SENT', provider: 'twilio-sms', channel_config_id: ids.a2 });
    const calls = twilioAccountsCalled();
    expect(new Set(calls)).toEqual(new Set([A1.accountSid, A2.accountSid]));
    expect(calls.filter((sid) => sid === A2.accountSid)).toHaveLength(3);

    const circuits = stack.herald.services.circuits;
    const keys = [`config:${ids.a1}`, `config:${ids.a2}`, `config:${ids.b1}`, 'twilio-sms'];
    const health = await circuits.health(keys);
    expect(health[`config:${ids.a1}`].circuit).toBe('open');
    for (const key of keys.slice(1)) expect(health[key].circuit, key).toBe('closed');

    // A's second config fails too: the shared account sends it (channel_config_id null).
    emulator.reset();
    emulator.injectFault({ vendor: 'twilio', account: A2.accountSid, count: 1_000, status: 503 });
    const [shared] = await settled(await send('route-a', ['SMS']));
    expect(shared).toMatchObject({ status: 'SENT', provider: 'twilio-sms', channel_config_id: null });
    // A1's open circuit is skipped without a request; A2 used its attempts.
    expect(twilioAccountsCalled()).toEqual([A2.accountSid, A2.accountSid, SHARED_SID]);

    // Tenant B, meanwhile, still sends through its own account: A's circuit is not B's.
    emulator.reset();
    const [b] = await settled(await send('route-b', ['SMS']));
    expect(b).toMatchObject({ status: 'SENT', channel_config_id: ids.b1 });
    expect(twilioAccountsCalled()).toEqual([B1.accountSid]);
  });

  it('audit: a change to a config writes one row each (create/update/delete), never a secret', async () => {
    const id = await createConfig('route-b', twilioConfig('b-audited', B1, 3));
    const updated = await gql(
      `mutation ($id: ID!, $input: UpdateChannelConfigInput!) { updateChannelConfig(id: $id, input: $input) { id } }`,
      { id, input: { position: 4, credentials: { authToken: B1.authToken } } },
      'route-b',
    );
    expect(updated.errors).toBeUndefined();
    const deleted = await gql(`mutation ($id: ID!) { deleteChannelConfig(id: $id) }`, { id }, 'route-b');
    expect(deleted.errors).toBeUndefined();

    const { rows } = await db.query<{ action: string; actor: string; before: unknown; after: unknown }>(
      `select action, actor, before, after from audit_log where entity = 'channelConfig' and entity_id = $1 order by occurred_at, action`,
      [id],
    );
    expect(rows.map((r) => r.action)).toEqual(['create', 'update', 'delete']);
    expect(rows.every((r) => r.actor === 'route-b-admin')).toBe(true);
    expect(rows[0]).toMatchObject({
      before: null,
      after: { name: 'b-audited', position: 3, credentials: { authToken: '***' } },
    });
    expect(rows[1]).toMatchObject({
      before: { position: 3, version: 1 },
      after: { position: 4, version: 2 },
    });
    expect(rows[2]).toMatchObject({ before: { position: 4 }, after: null });

    // No secret nor ciphertext anywhere in the audit trail (every config created in this file included).
    const { rows: all } = await db.query<{ before: unknown; after: unknown }>(
      `select before, after from audit_log where entity = 'channelConfig'`,
    );
    expect(all.length).toBeGreaterThanOrEqual(8);
    const text = JSON.stringify(all);
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/v1\.k1\./);
  });
});
