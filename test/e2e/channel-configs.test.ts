import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/env';
import { createLogger } from '../../src/config/logger';
import { Channel } from '../../src/entities';
import { ChannelConfigService } from '../../src/services/channel-config.service';
import { reencryptChannelConfigs } from '../../src/services/reencrypt-configs';
import { SecretBox } from '../../src/services/secret-box';
import { TenantRoutes } from '../../src/services/tenant-routes';
import { execute, type GraphQLResponse } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const SECRET = 'channel-configs-test-secret-long-enough!';
const key = () => randomBytes(32).toString('base64');
const K1 = key();
const K2 = key();

/** Tenant A's and B's own emulated accounts: different SIDs, tokens and keys. */
const A = {
  accountSid: `AC${'a'.repeat(32)}`,
  authToken: `tenant-a-twilio-token-${randomBytes(8).toString('hex')}`,
  apiKey: `SG.tenant-a.${randomBytes(12).toString('hex')}`,
};
const B = {
  accountSid: `AC${'b'.repeat(32)}`,
  authToken: `tenant-b-twilio-token-${randomBytes(8).toString('hex')}`,
  apiKey: `SG.tenant-b.${randomBytes(12).toString('hex')}`,
};
const WRONG_TOKEN = `wrong-token-${randomBytes(8).toString('hex')}`;
const NO_SEND_KEY = `SG.no-send.${randomBytes(12).toString('hex')}`;
const ALL_SECRETS = [A.authToken, A.apiKey, B.authToken, B.apiKey, WRONG_TOKEN, NO_SEND_KEY];

const token = (tenant: string, scope = 'admin') =>
  new SignJWT({ tenant, scope })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(`${tenant}-admin`)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));

const FIELDS = `id name channel provider active position
  senders { fromNumber messagingServiceSid whatsappFrom fromEmail projectId }
  identifiers { accountSid accessKeyId region clientEmail webhookPublicKey }
  credentials { authToken apiKey privateKey secretAccessKey }
  webhookUrls validation { ok checkedAt error } version`;

interface View {
  id: string;
  name: string;
  active: boolean;
  position: number;
  senders: Record<string, string | null>;
  identifiers: Record<string, string | null>;
  credentials: Record<string, string | null>;
  webhookUrls: string[];
  validation: { ok: boolean | null; checkedAt: string | null; error: string | null };
  version: number;
}

describe('channel configs: a tenant’s own provider accounts (issue 13, points 1–3)', () => {
  let stack: TestStack;
  let db: pg.Client;
  let tokenA: string;
  let tokenB: string;
  const logLines: string[] = [];

  const gql = <T>(
    query: string,
    variables: Record<string, unknown>,
    bearer: string,
  ): Promise<GraphQLResponse<T>> => execute<T, Record<string, unknown>>(stack.url, query, variables, bearer);
  const create = (input: Record<string, unknown>, bearer = tokenA) =>
    gql<{ createChannelConfig: View }>(
      `mutation ($input: CreateChannelConfigInput!) { createChannelConfig(input: $input) { ${FIELDS} } }`,
      { input },
      bearer,
    );
  const update = (id: string, input: Record<string, unknown>, bearer = tokenA) =>
    gql<{ updateChannelConfig: View }>(
      `mutation ($id: ID!, $input: UpdateChannelConfigInput!) { updateChannelConfig(id: $id, input: $input) { ${FIELDS} } }`,
      { id, input },
      bearer,
    );
  const twilioInput = (name: string, account: typeof A, extra: Record<string, unknown> = {}) => ({
    name,
    channel: 'SMS',
    provider: 'twilio-sms',
    senders: { fromNumber: '+14155550100' },
    identifiers: { accountSid: account.accountSid },
    credentials: { authToken: account.authToken },
    ...extra,
  });

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    stack = await startStack({
      extraEnv: { JWT_SECRET: SECRET, CONFIG_ENCRYPTION_KEY: `k1:${K1}`, LOG_LEVEL: 'debug' },
      logger: createLogger('debug', 'herald', sink),
    });
    // A's number is its own: the emulator refuses a From the account does not own (21606).
    stack.emulator.emulator.addAccount({
      twilio: { accountSid: A.accountSid, authToken: A.authToken, numbers: [{ number: '+14155550100' }] },
      sendgrid: { apiKey: A.apiKey },
    });
    stack.emulator.emulator.addAccount({ twilio: B, sendgrid: { apiKey: B.apiKey } });
    stack.emulator.emulator.addAccount({ sendgrid: { apiKey: NO_SEND_KEY, scopes: ['stats.read'] } });
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    [tokenA, tokenB] = await Promise.all([token('tenant-a'), token('tenant-b')]);
  });

  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  it('creates a Twilio config validated by the vendor: identifiers shown, the secret exactly "***", ciphertext in the DB', async () => {
    const result = await create(twilioInput('a-twilio', A));
    expect(result.errors).toBeUndefined();
    const view = result.data!.createChannelConfig;
    expect(view).toMatchObject({
      name: 'a-twilio',
      active: true,
      senders: { fromNumber: '+14155550100' },
      identifiers: { accountSid: A.accountSid },
      credentials: { authToken: '***', apiKey: null, privateKey: null, secretAccessKey: null },
      validation: { ok: true, error: null },
      version: 1,
    });
    expect(view.webhookUrls).toEqual([
      `${stack.config.server.publicUrl}/webhooks/twilio/${view.id}/status`,
      `${stack.config.server.publicUrl}/webhooks/twilio/${view.id}/inbound`,
    ]);
    // The validation went to the vendor's Account resource with tenant A's own credentials (the emulator answered).
    const { rows } = await db.query<{ credentials: string; identifiers: unknown }>(
      'select credentials, identifiers from channel_config where id = $1',
      [view.id],
    );
    expect(rows[0].credentials).toMatch(/^v1\.k1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(rows[0].credentials).not.toContain(A.authToken);
    expect(JSON.stringify(rows[0])).not.toContain(A.authToken);
    expect(rows[0].identifiers).toMatchObject({ accountSid: A.accountSid });
  });

  it('a config the vendor refuses is stored inactive with the vendor’s answer, never echoing the secret', async () => {
    const wrong = await create(twilioInput('a-wrong', { ...A, authToken: WRONG_TOKEN }));
    expect(wrong.errors).toBeUndefined();
    const view = wrong.data!.createChannelConfig;
    expect(view.active).toBe(false);
    expect(view.validation.ok).toBe(false);
    expect(view.validation.error).toMatch(/401|Authenticate/);
    expect(JSON.stringify(wrong)).not.toContain(WRONG_TOKEN);

    // Fixing the token re-validates; activating then succeeds.
    const fixed = await update(view.id, { credentials: { authToken: A.authToken }, active: true });
    expect(fixed.errors).toBeUndefined();
    expect(fixed.data!.updateChannelConfig).toMatchObject({
      active: true,
      validation: { ok: true, error: null },
      credentials: { authToken: '***' },
      version: 2,
    });
  });

  it('SendGrid: a key with mail.send validates; a key without it is kept inactive', async () => {
    const ok = await create({
      name: 'a-sendgrid',
      channel: 'EMAIL',
      provider: 'sendgrid',
      senders: { fromEmail: 'news@tenant-a.example' },
      credentials: { apiKey: A.apiKey },
    });
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.createChannelConfig).toMatchObject({
      active: true,
      credentials: { apiKey: '***', authToken: null },
      validation: { ok: true },
    });
    const noSend = await create({
      name: 'a-sendgrid-stats',
      channel: 'EMAIL',
      provider: 'sendgrid',
      senders: { fromEmail: 'news@tenant-a.example' },
      credentials: { apiKey: NO_SEND_KEY },
    });
    expect(noSend.data!.createChannelConfig).toMatchObject({
      active: false,
      validation: { ok: false, error: 'the API key lacks the mail.send scope' },
    });
  });

  it('an update with the values it holds changes nothing: same version and ciphertext, no vendor check, no audit row', async () => {
    const created = await create(twilioInput('a-same', A));
    expect(created.errors).toBeUndefined();
    const { id } = created.data!.createChannelConfig;
    const stored = async () =>
      (
        await db.query<{ credentials: string; version: number; x: string }>(
          'select credentials, version, updated_at, validation_checked_at, xmin::text as x from channel_config where id = $1',
          [id],
        )
      ).rows[0];
    const audited = async () =>
      (await db.query<{ n: number }>('select count(*)::int as n from audit_log where entity_id = $1', [id]))
        .rows[0].n;
    // Each vendor check logs one line naming the config (ChannelConfigService.validate).
    const vendorChecks = () =>
      logLines.filter((line) => line.includes('channel config validated') && line.includes(id)).length;
    const first = await stored();
    const checks = vendorChecks();
    expect(checks).toBe(1);
    expect(await audited()).toBe(1);

    // Everything again, spelled as given at create; then the secret alone; then nothing.
    for (const again of [
      {
        name: ' a-same ',
        position: 0,
        active: true,
        senders: { fromNumber: '+1 415 555 0100' },
        identifiers: { accountSid: A.accountSid },
        credentials: { authToken: A.authToken },
      },
      { credentials: { authToken: A.authToken } },
      {},
    ]) {
      const same = await update(id, again);
      expect(same.errors).toBeUndefined();
      expect(same.data!.updateChannelConfig).toEqual(created.data!.createChannelConfig);
    }
    expect(await stored()).toEqual(first);
    expect(vendorChecks()).toBe(checks);
    expect(await audited()).toBe(1);

    // A rename with the same secret: a change, but the secret is not re-sealed and the vendor not asked.
    const renamed = await update(id, { name: 'a-same-2', credentials: { authToken: A.authToken } });
    expect(renamed.data!.updateChannelConfig).toMatchObject({ name: 'a-same-2', version: 2 });
    expect((await stored()).credentials).toBe(first.credentials);
    expect(vendorChecks()).toBe(checks);
    expect(await audited()).toBe(2);

    // Another secret is a change the vendor checks (this one it refuses: the config goes inactive).
    const other = await update(id, { credentials: { authToken: WRONG_TOKEN } });
    expect(other.data!.updateChannelConfig).toMatchObject({ active: false, version: 3 });
    expect((await stored()).credentials).not.toBe(first.credentials);
    expect(vendorChecks()).toBe(checks + 1);
    expect(await audited()).toBe(3);
    const deleted = await gql(`mutation ($id: ID!) { deleteChannelConfig(id: $id) }`, { id }, tokenA);
    expect(deleted.errors).toBeUndefined();
  });

  it('bad input answers BAD_USER_INPUT naming the field; a duplicate name CONFLICT', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [twilioInput('x1', A, { channel: 'EMAIL' }), 'input.channel'],
      [twilioInput('x2', A, { provider: 'twilio-voice' }), 'input.provider'],
      [twilioInput('x3', A, { credentials: {} }), 'input.credentials.authToken'],
      ...[
        'not-a-key',
        'null',
        generateKeyPairSync('rsa', { modulusLength: 1024 })
          .publicKey.export({ type: 'spki', format: 'der' })
          .toString('base64'),
        generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
          .publicKey.export({ type: 'spki', format: 'der' })
          .toString('base64'),
      ].map((webhookPublicKey, i): [Record<string, unknown>, string] => [
        {
          name: `sg-key-${i}`,
          channel: 'EMAIL',
          provider: 'sendgrid',
          senders: { fromEmail: 'news@tenant-a.example' },
          identifiers: { webhookPublicKey },
          credentials: { apiKey: A.apiKey },
        },
        'input.identifiers.webhookPublicKey',
      ]),
      [twilioInput('x4', A, { identifiers: { accountSid: 'AC123' } }), 'input.identifiers.accountSid'],
      [twilioInput('x5', A, { senders: { fromNumber: '+1 555' } }), 'input.senders.fromNumber'],
      [twilioInput('x6', A, { position: -1 }), 'input.position'],
      [twilioInput('  ', A), 'input.name'],
      // Names people read hold no controls nor invisible/bidi formatting characters (UTS #36; CVE-2021-42574).
      ...['line\nbreak', 'zero\u200bwidth', 'right\u202eto-left', 'tab\there', 'b\ufeffom'].map(
        (name): [Record<string, unknown>, string] => [twilioInput(name, A), 'input.name'],
      ),
      [
        twilioInput('x7', A, { credentials: { authToken: `${A.authToken}\u0000` } }),
        'input.credentials.authToken',
      ],
    ];
    for (const [input, field] of cases) {
      const result = await create(input);
      expect(result.errors?.[0]?.extensions, field).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(JSON.stringify(result)).not.toContain(A.authToken);
    }
    const duplicate = await create(twilioInput('a-twilio', A));
    expect(duplicate.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', field: 'input.name' });
    // Names are stored in NFC: a decomposed "é" is the composed one's duplicate.
    const composed = await create(twilioInput('caf\u00e9', A));
    expect(composed.errors).toBeUndefined();
    const decomposed = await create(twilioInput('cafe\u0301', A));
    expect(decomposed.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', field: 'input.name' });
    const removed = await gql(
      `mutation ($id: ID!) { deleteChannelConfig(id: $id) }`,
      { id: composed.data!.createChannelConfig.id },
      tokenA,
    );
    expect(removed.errors).toBeUndefined();
  });

  it('a tenant has at most 50 configs (the bound channelConfigs is priced at): 55 creates fired together store exactly 50', async () => {
    const tokenC = await token('tenant-cap');
    const answers = await Promise.all(
      Array.from({ length: 55 }, (_, i) => create(twilioInput(`cap-${i}`, A), tokenC)),
    );
    const refused = answers.filter((a) => a.errors);
    expect(answers.filter((a) => a.data?.createChannelConfig)).toHaveLength(50);
    expect(refused).toHaveLength(5);
    for (const answer of refused)
      expect(answer.errors?.[0]).toMatchObject({
        message: 'input: a tenant has at most 50 channel configs; delete or update one',
        extensions: { code: 'BAD_USER_INPUT', field: 'input' },
      });
    const stored = await db.query(
      `select count(*)::int as n from channel_config where tenant_id = 'tenant-cap'`,
    );
    expect(stored.rows[0]).toEqual({ n: 50 });
  });

  it('tenant isolation: another tenant’s id reads as absent and answers NOT_FOUND to update and delete', async () => {
    const mine = await create(twilioInput('b-twilio', B), tokenB);
    expect(mine.errors).toBeUndefined();
    const bId = mine.data!.createChannelConfig.id;

    const listA = await gql<{ channelConfigs: View[] }>(`{ channelConfigs { id name } }`, {}, tokenA);
    expect(listA.data!.channelConfigs.map((c) => c.name)).not.toContain('b-twilio');
    const listB = await gql<{ channelConfigs: View[] }>(`{ channelConfigs { id name } }`, {}, tokenB);
    expect(listB.data!.channelConfigs.map((c) => c.name)).toEqual(['b-twilio']);

    const read = await gql<{ channelConfig: View | null }>(
      `query ($id: ID!) { channelConfig(id: $id) { id } }`,
      { id: bId },
      tokenA,
    );
    expect(read.data!.channelConfig).toBeNull();
    const changed = await update(bId, { name: 'stolen' });
    expect(changed.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const deleted = await gql(`mutation ($id: ID!) { deleteChannelConfig(id: $id) }`, { id: bId }, tokenA);
    expect(deleted.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const notUuid = await gql(`mutation ($id: ID!) { deleteChannelConfig(id: $id) }`, { id: 'nope' }, tokenA);
    expect(notUuid.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    // Still B's, unchanged; B may delete it.
    const own = await gql<{ channelConfig: View | null }>(
      `query ($id: ID!) { channelConfig(id: $id) { ${FIELDS} } }`,
      { id: bId },
      tokenB,
    );
    expect(own.data!.channelConfig).toMatchObject({
      name: 'b-twilio',
      identifiers: { accountSid: B.accountSid },
    });
    const gone = await gql<{ deleteChannelConfig: boolean }>(
      `mutation ($id: ID!) { deleteChannelConfig(id: $id) }`,
      { id: bId },
      tokenB,
    );
    expect(gone.data!.deleteChannelConfig).toBe(true);
  });

  it('needs the admin scope', async () => {
    const reader = await token('tenant-a', 'communication:read communication:send');
    const result = await gql(`{ channelConfigs { id } }`, {}, reader);
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('without CONFIG_ENCRYPTION_KEY, creating a config answers PROVIDER_NOT_CONFIGURED and stores nothing', async () => {
    const deps = stack.herald.services.deps;
    const noKey = parseConfig({ ...stack.env.vars, PORT: '0' });
    const service = new ChannelConfigService({
      ...deps,
      config: { ...noKey, channelConfigs: { ...noKey.channelConfigs, keyring: { byId: new Map() } } },
    });
    await expect(
      service.create(
        { tenantId: 'tenant-nokey', subject: 's', scopes: ['admin'] },
        twilioInput('nokey', A) as never,
      ),
    ).rejects.toMatchObject({ extensions: { code: 'PROVIDER_NOT_CONFIGURED' } });
    const { rows } = await db.query(`select 1 from channel_config where tenant_id = 'tenant-nokey'`);
    expect(rows).toHaveLength(0);
  });

  it('routes (building block of point 4): own active configs by position, then shared; adapters rebuilt on a new version', async () => {
    const deps = stack.herald.services.deps;
    const routes = new TenantRoutes(deps, stack.herald.services.channelConfigs, { ttlMs: 0 });
    const chain = await routes.chain('tenant-a', Channel.SMS);
    const own = chain.filter((entry) => entry.channelConfigId !== null);
    expect(own.length).toBeGreaterThanOrEqual(2);
    expect(own.every((entry) => entry.key === `config:${entry.channelConfigId}`)).toBe(true);
    expect(chain.slice(own.length).map((entry) => entry.key)).toEqual(['twilio-sms']);

    // A send through tenant A's adapter reaches the vendor with A's account and the config's own callback path.
    const first = own[0];
    stack.emulator.emulator.reset();
    await first.provider.send(
      { to: '+14155552671', body: 'hello from A' },
      {
        messageId: '00000000-0000-4000-8000-000000000001',
        tenantId: 'tenant-a',
        attempt: 1,
      },
    );
    const [request] = stack.emulator.emulator.recorded('twilio');
    expect(request.path).toContain(`/Accounts/${A.accountSid}/Messages.json`);
    expect((request.body as { StatusCallback: string }).StatusCallback).toContain(
      `/webhooks/twilio/${first.channelConfigId}/status`,
    );

    // Same version: the cached adapter; a change (version + 1): a new one.
    expect((await routes.chain('tenant-a', Channel.SMS))[0].provider).toBe(first.provider);
    await update(first.channelConfigId!, { position: 5 });
    const after = await routes.chain('tenant-a', Channel.SMS);
    expect(after.find((e) => e.channelConfigId === first.channelConfigId)!.provider).not.toBe(first.provider);

    // useSharedProviders = false: only the tenant's own.
    await db.query(
      `insert into tenant_settings (id, tenant_id, updated_at, use_shared_providers) values (gen_random_uuid(), 'tenant-a', now(), false)`,
    );
    const ownOnly = await routes.chain('tenant-a', Channel.SMS);
    expect(ownOnly.every((entry) => entry.channelConfigId !== null)).toBe(true);
    await routes.close();
  });

  it('rotation: the old key still reads until re-encryption rewrites every row under the new key, idempotently', async () => {
    const deps = stack.herald.services.deps;
    const rotated = parseConfig({ ...stack.env.vars, CONFIG_ENCRYPTION_KEY: `k2:${K2},k1:${K1}` });
    const service = new ChannelConfigService({ ...deps, config: rotated });
    const { rows: before } = await db.query<{
      id: string;
      tenant_id: string;
      credentials: string;
      deleted_at: Date | null;
    }>(`select id, tenant_id, credentials, deleted_at from channel_config order by id`);
    expect(before.length).toBeGreaterThanOrEqual(3);
    // B's deleted config is among them: its webhooks still verify with its secret, so it is re-encrypted too.
    expect(before.some((r) => r.deleted_at !== null)).toBe(true);
    expect(before.every((r) => r.credentials.startsWith('v1.k1.'))).toBe(true);

    // Written under k1, read with k2 current: the old key is still a reading key.
    const config = await deps.orm.em.fork().findOneOrFail('ChannelConfig', { id: before[0].id });
    expect(
      Object.values(service.secretsOf(config as never)).some((s) => ALL_SECRETS.includes(s as string)),
    ).toBe(true);

    const box = new SecretBox(rotated.channelConfigs.keyring);
    expect(await reencryptChannelConfigs(deps.orm, box, 2)).toBe(before.length);
    const { rows: after } = await db.query<{ credentials: string }>(`select credentials from channel_config`);
    expect(after.every((r) => r.credentials.startsWith('v1.k2.'))).toBe(true);
    expect(await reencryptChannelConfigs(deps.orm, box, 2)).toBe(0);

    // Only k2 now: every row still decrypts; k1 alone no longer does.
    const onlyK2 = new ChannelConfigService({
      ...deps,
      config: parseConfig({ ...stack.env.vars, CONFIG_ENCRYPTION_KEY: `k2:${K2}` }),
    });
    const onlyK1 = new ChannelConfigService({ ...deps, config: stack.config });
    const fresh = await deps.orm.em.fork().findOneOrFail('ChannelConfig', { id: before[0].id });
    expect(() => onlyK2.secretsOf(fresh as never)).not.toThrow();
    expect(() => onlyK1.secretsOf(fresh as never)).toThrow(/k2/);

    // A key id is matched exactly: `k_` is not "k + any character" (LIKE once found nothing to rewrite here).
    const underscored = new SecretBox(
      parseConfig({ ...stack.env.vars, CONFIG_ENCRYPTION_KEY: `k_:${K1},k2:${K2}` }).channelConfigs.keyring,
    );
    expect(await reencryptChannelConfigs(deps.orm, underscored, 2)).toBe(before.length);
    const { rows: last } = await db.query<{ credentials: string }>(`select credentials from channel_config`);
    expect(last.every((r) => r.credentials.startsWith('v1.k_.'))).toBe(true);
  });

  it('no secret appears in any log line written during these tests', () => {
    const logged = logLines.join('');
    expect(logged).toContain('channel config validated');
    for (const secret of ALL_SECRETS) expect(logged).not.toContain(secret);
  });
});
