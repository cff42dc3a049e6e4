import { randomBytes, randomUUID, sign } from 'node:crypto';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/env';
import { createLogger } from '../../src/config/logger';
import { SANDBOX_EMULATOR_CREDENTIALS } from '../../src/sandbox/emulator';
import { ChannelConfigService } from '../../src/services/channel-config.service';
import { execute, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';
import { WebhookSender } from '../support/webhooks';
import { customerWrites } from '../support/whatsapp';

/**
 * Issue 13, routing robustness: a config whose encryption key is gone, changes reaching this process's next send
 * despite the routes cache, default senders copied into new configs, and per-config send rates.
 */
const SECRET = 'channel-routing-robustness-secret-long!';
const SHARED_SID = SANDBOX_EMULATOR_CREDENTIALS.twilio.accountSid;
/**
 * An emulated Twilio account and the senders it owns (the emulator refuses any other From: 21606, WhatsApp 63007);
 * `number` is its SMS configs' fromNumber.
 */
const twilioAccount = (letter: string, number: string, whatsapp?: string) => ({
  accountSid: `AC${letter.repeat(32)}`,
  authToken: `token-${letter}-${randomBytes(8).toString('hex')}`,
  number,
  senders: [number, ...(whatsapp ? [`whatsapp:${whatsapp}`] : [])],
});
const CACHE = twilioAccount('c', '+14155550121');
const GONE = twilioAccount('d', '+14155550122');
const DEFAULTS = twilioAccount('e', '+14155550100');
const RATE_E = twilioAccount('f', '+14155550123');
const RATE_F = twilioAccount('9', '+14155550124');
const WA_OWN = twilioAccount('a', '+14155550125', '+14155550177');
const WA_OTHER = twilioAccount('b', '+14155550126', '+14155550178');
const SG_KEY = `SG.defaults.${randomBytes(12).toString('hex')}`;
const ACCOUNTS = [CACHE, GONE, DEFAULTS, RATE_E, RATE_F, WA_OWN, WA_OTHER];
const SECRETS = ACCOUNTS.map((a) => a.authToken).concat(SG_KEY);
/** A key the stack does not have: rows written under it stand for a key rotated out too early. */
const GONE_KEY = `k9:${randomBytes(32).toString('base64')}`;

const token = (tenant: string) =>
  new SignJWT({ tenant, scope: 'admin communication:send communication:read' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(`${tenant}-admin`)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));

interface Row {
  id: string;
  status: string;
  channel_config_id: string | null;
  error_code: string | null;
  error_message: string | null;
}

interface View {
  id: string;
  name: string;
  active: boolean;
  position: number;
  senders: Record<string, string | null>;
  credentials: Record<string, string | null>;
  validation: { ok: boolean | null; error: string | null };
}
const FIELDS = `id name active position senders { fromNumber messagingServiceSid whatsappFrom fromEmail }
  credentials { authToken apiKey } validation { ok error }`;

describe('channel routing robustness (issue 13)', () => {
  let stack: TestStack;
  let db: pg.Client;
  const bearer: Record<string, string> = {};
  const logLines: string[] = [];

  const gql = <T>(query: string, variables: Record<string, unknown>, tenant: string) =>
    execute<T, Record<string, unknown>>(stack.url, query, variables, bearer[tenant] ?? '');
  const asTenant = async (tenant: string) => {
    bearer[tenant] ??= await token(tenant);
  };

  const create = async (tenant: string, input: Record<string, unknown>) => {
    await asTenant(tenant);
    return gql<{ createChannelConfig: View }>(
      `mutation ($input: CreateChannelConfigInput!) { createChannelConfig(input: $input) { ${FIELDS} } }`,
      { input },
      tenant,
    );
  };
  const update = (tenant: string, id: string, input: Record<string, unknown>) =>
    gql<{ updateChannelConfig: View }>(
      `mutation ($id: ID!, $input: UpdateChannelConfigInput!) { updateChannelConfig(id: $id, input: $input) { ${FIELDS} } }`,
      { id, input },
      tenant,
    );
  const settings = async (tenant: string, input: Record<string, unknown>) => {
    await asTenant(tenant);
    const result = await gql(
      `mutation ($input: TenantSettingsInput!) { updateTenantSettings(input: $input) { useSharedProviders } }`,
      { input },
      tenant,
    );
    expect(result.errors).toBeUndefined();
  };
  const twilioInput = (name: string, account: typeof CACHE, extra: Record<string, unknown> = {}) => ({
    name,
    channel: 'SMS',
    provider: 'twilio-sms',
    senders: { fromNumber: account.number },
    identifiers: { accountSid: account.accountSid },
    credentials: { authToken: account.authToken },
    ...extra,
  });
  const created = async (tenant: string, input: Record<string, unknown>) => {
    const result = await create(tenant, input);
    expect(result.errors).toBeUndefined();
    expect(result.data!.createChannelConfig.active).toBe(true);
    return result.data!.createChannelConfig.id;
  };

  /** One SMS send for the tenant; answers its message id. */
  const send = async (tenant: string) => {
    await asTenant(tenant);
    const result = await gql<{ sendNotification: { notification: { messages: { id: string }[] } } }>(
      `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { messages { id } } } }`,
      {
        input: {
          userId: `u-${randomUUID()}`,
          type: 'adhoc',
          channels: ['SMS'],
          to: { phone: '+14155552671' },
          content: { body: 'hello' },
        },
      },
      tenant,
    );
    expect(result.errors).toBeUndefined();
    return result.data!.sendNotification.notification.messages[0].id;
  };
  const rows = async (ids: string[]) =>
    (
      await db.query<Row>(
        `select id, status, channel_config_id, error_code, error_message from message where id = any($1)`,
        [ids],
      )
    ).rows;
  /** Waits until the message is SENT or FAILED. */
  const settled = (id: string): Promise<Row> =>
    waitFor(
      async () => {
        const [row] = await rows([id]);
        return row && ['SENT', 'FAILED'].includes(row.status) ? row : undefined;
      },
      30_000,
      `message ${id} settled`,
    );
  const sendSettled = async (tenant: string) => settled(await send(tenant));
  const twilioAccountsCalled = () =>
    stack.emulator.emulator
      .recorded('twilio')
      .filter((r) => r.path.includes('/Messages.json'))
      .map((r) => /\/Accounts\/(AC\w+)\//.exec(r.path)?.[1]);

  /** A config written under GONE_KEY, a key this stack does not have (as after a rotation that dropped it early). */
  const createUnderGoneKey = async (
    tenant: string,
    name: string,
    input: Record<string, unknown> = twilioInput(name, GONE),
  ) => {
    const deps = stack.herald.services.deps;
    const withGoneKey = new ChannelConfigService({
      ...deps,
      config: parseConfig({ ...stack.env.vars, CONFIG_ENCRYPTION_KEY: GONE_KEY }),
    });
    const view = await withGoneKey.create(
      { tenantId: tenant, subject: `${tenant}-admin`, scopes: ['admin'] },
      input as never,
    );
    expect(view.active).toBe(true);
    const { rows: stored } = await db.query<{ credentials: string }>(
      'select credentials from channel_config where id = $1',
      [view.id],
    );
    expect(stored[0].credentials).toMatch(/^v1\.k9\./);
    return view.id;
  };

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    stack = await startStack({
      extraEnv: {
        JWT_SECRET: SECRET,
        CONFIG_ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}`,
        // Long: only forgetting the tenant's order after a local change makes the next send see it.
        CHANNEL_CONFIG_ROUTES_TTL_MS: '60000',
        PROVIDER_RATE_LIMITS: 'twilio-sms=2',
        DISPATCH_MAX_ATTEMPTS: '2',
      },
      logger: createLogger('info', 'herald', sink),
    });
    const emulator = stack.emulator.emulator;
    for (const { accountSid, authToken, senders } of ACCOUNTS)
      emulator.addAccount({
        twilio: { accountSid, authToken, numbers: senders.map((number) => ({ number })) },
      });
    emulator.addAccount({ sendgrid: { apiKey: SG_KEY } });
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  it('a config or settings change made in this process is honoured by the very next send (routes TTL 60 s)', async () => {
    const tenant = 'cache-t';
    // Caches "no configs, shared accounts" for the TTL.
    expect(await sendSettled(tenant)).toMatchObject({ status: 'SENT', channel_config_id: null });

    const id = await created(tenant, twilioInput('cache-sms', CACHE));
    expect(await sendSettled(tenant)).toMatchObject({ status: 'SENT', channel_config_id: id });

    expect((await update(tenant, id, { active: false })).errors).toBeUndefined();
    expect(await sendSettled(tenant)).toMatchObject({ status: 'SENT', channel_config_id: null });

    expect((await update(tenant, id, { active: true })).errors).toBeUndefined();
    expect(await sendSettled(tenant)).toMatchObject({ status: 'SENT', channel_config_id: id });

    const deleted = await gql(`mutation ($id: ID!) { deleteChannelConfig(id: $id) }`, { id }, tenant);
    expect(deleted.errors).toBeUndefined();
    expect(await sendSettled(tenant)).toMatchObject({ status: 'SENT', channel_config_id: null });

    await settings(tenant, { useSharedProviders: false });
    expect(await sendSettled(tenant)).toMatchObject({
      status: 'FAILED',
      error_code: 'PROVIDER_NOT_CONFIGURED',
    });
    await settings(tenant, { useSharedProviders: true });
    expect(await sendSettled(tenant)).toMatchObject({ status: 'SENT', channel_config_id: null });
  });

  it('a config whose key id is gone still takes a change of name, position, senders or active; new credentials re-encrypt it', async () => {
    const tenant = 'gone-update';
    await asTenant(tenant);
    const id = await createUnderGoneKey(tenant, 'gone-1');

    const renamed = await update(tenant, id, {
      name: 'gone-renamed',
      position: 3,
      senders: { fromNumber: '+14155550111' },
      active: false,
    });
    expect(renamed.errors).toBeUndefined();
    expect(renamed.data!.updateChannelConfig).toMatchObject({
      name: 'gone-renamed',
      position: 3,
      active: false,
      senders: { fromNumber: '+14155550111' },
      credentials: { authToken: '***' },
    });

    // Activating asks the vendor, which needs the secret: saved inactive with the reason (never refused).
    const activated = await update(tenant, id, { active: true });
    expect(activated.errors).toBeUndefined();
    expect(activated.data!.updateChannelConfig).toMatchObject({
      active: false,
      validation: { ok: false },
    });
    expect(activated.data!.updateChannelConfig.validation.error).toContain('"k9"');
    expect(activated.data!.updateChannelConfig.validation.error).toContain('CONFIG_ENCRYPTION_KEY');

    const repaired = await update(tenant, id, { active: true, credentials: { authToken: GONE.authToken } });
    expect(repaired.errors).toBeUndefined();
    expect(repaired.data!.updateChannelConfig).toMatchObject({ active: true, validation: { ok: true } });
    const { rows: stored } = await db.query<{ credentials: string }>(
      'select credentials from channel_config where id = $1',
      [id],
    );
    expect(stored[0].credentials).toMatch(/^v1\.k1\./);
    expect(JSON.stringify([renamed, activated, repaired])).not.toContain(GONE.authToken);
  });

  it('at send, a config whose key id is gone is skipped with a history event and one log line; own-only ends PROVIDER_NOT_CONFIGURED', async () => {
    const tenant = 'gone-send';
    await asTenant(tenant);
    const id = await createUnderGoneKey(tenant, 'gone-2');
    stack.emulator.emulator.reset();

    const shared = await sendSettled(tenant);
    expect(shared).toMatchObject({ status: 'SENT', channel_config_id: null });
    expect(twilioAccountsCalled()).toEqual([SHARED_SID]);
    const { rows: events } = await db.query<{ error_code: string; error_message: string }>(
      `select error_code, error_message from delivery_event where message_id = $1 and error_code = 'CHANNEL_CONFIG_UNUSABLE'`,
      [shared.id],
    );
    expect(events).toHaveLength(1);
    expect(events[0].error_message).toContain(id);
    expect(events[0].error_message).toContain('"k9"');

    await settings(tenant, { useSharedProviders: false });
    const failed = await sendSettled(tenant);
    expect(failed).toMatchObject({ status: 'FAILED', error_code: 'PROVIDER_NOT_CONFIGURED' });
    expect(failed.error_message).toContain(id);
    expect(failed.error_message).toContain('"k9"');
    expect(twilioAccountsCalled()).toEqual([SHARED_SID]);

    // Logged once for this config version, naming the config and the missing key id.
    const skippedLines = logLines.filter(
      (line) => line.includes('channel config skipped') && line.includes(id),
    );
    expect(skippedLines).toHaveLength(1);
    expect(JSON.parse(skippedLines[0])).toMatchObject({ channelConfigId: id, missingKeyId: 'k9' });
  });

  it('a Twilio config whose key id is gone answers its webhooks 503 with Retry-After and the cause, logging one warn line per version', async () => {
    const tenant = 'gone-hooks';
    await asTenant(tenant);
    const id = await createUnderGoneKey(tenant, 'gone-hooks-sms');
    const sender = new WebhookSender();
    sender.baseUrl = stack.config.server.publicUrl;
    const unsigned = () =>
      sender.twilio(
        `/webhooks/twilio/${id}/status`,
        { MessageSid: 'SM1', MessageStatus: 'sent' },
        { signature: null },
      );
    // A correctly signed STOP (Twilio does not retry inbound webhooks: the answer must at least say why).
    const stop = () =>
      sender.twilio(
        `/webhooks/twilio/${id}/inbound`,
        {
          MessageSid: `SM${randomBytes(16).toString('hex')}`,
          From: '+14155552699',
          To: '+14155550100',
          Body: 'STOP',
        },
        { token: GONE.authToken },
      );
    for (const response of [await unsigned(), await stop(), await unsigned(), await stop()]) {
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('300');
      expect(await response.json()).toEqual({
        error: 'channel config credentials cannot be read: key id not configured',
      });
    }
    const { rows: stored } = await db.query('select 1 from inbound_message where channel_config_id = $1', [
      id,
    ]);
    expect(stored).toEqual([]);
    const lines = logLines.filter((line) => line.includes(id) && line.includes('webhook'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 40, channelConfigId: id, missingKeyId: 'k9' });
    expect(lines[0]).not.toContain('stack');
    expect(logLines.filter((line) => line.includes('webhook failed'))).toEqual([]);

    // A new version (renamed) is reported once more.
    expect((await update(tenant, id, { name: 'gone-hooks-renamed' })).errors).toBeUndefined();
    expect((await unsigned()).status).toBe(503);
    expect((await unsigned()).status).toBe(503);
    expect(logLines.filter((line) => line.includes(id) && line.includes('webhook'))).toHaveLength(2);
  });

  it('a SendGrid config whose key id is gone takes a new webhookPublicKey without a vendor check, stays active and keeps accepting its signed events', async () => {
    const tenant = 'gone-sg';
    await asTenant(tenant);
    const id = await createUnderGoneKey(tenant, 'gone-sg-mail', {
      name: 'gone-sg-mail',
      channel: 'EMAIL',
      provider: 'sendgrid',
      senders: { fromEmail: 'news@gone-sg.example' },
      credentials: { apiKey: SG_KEY },
    });
    const sender = new WebhookSender();
    const changed = await update(tenant, id, { identifiers: { webhookPublicKey: sender.sendgridPublicKey } });
    expect(changed.errors).toBeUndefined();
    expect(changed.data!.updateChannelConfig).toMatchObject({
      active: true,
      validation: { ok: true, error: null },
    });

    const body = JSON.stringify([
      {
        email: 'someone@example.com',
        timestamp: Math.floor(Date.now() / 1000),
        event: 'delivered',
        sg_event_id: `ev-${randomUUID()}`,
        sg_message_id: `sg-${randomUUID()}`,
      },
    ]);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = sign('sha256', Buffer.from(timestamp + body), sender.sendgridKeys.privateKey).toString(
      'base64',
    );
    const response = await fetch(`${stack.config.server.publicUrl}/webhooks/sendgrid/${id}/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-twilio-email-event-webhook-timestamp': timestamp,
        'x-twilio-email-event-webhook-signature': signature,
      },
      body,
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 1 });
  });

  it('a config created without a sender gets the tenant’s default sender for its channel, or is refused naming the field', async () => {
    const tenant = 'defaults-t';
    const noSender = { senders: null };
    const refused = await create(tenant, twilioInput('no-sender', DEFAULTS, noSender));
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.senders.fromNumber',
    });
    expect(refused.errors?.[0]?.message).toContain('defaultSenders.sms');

    await settings(tenant, {
      defaultSenders: { sms: '+14155550199', email: 'from@defaults.example', whatsapp: '+14155550188' },
    });
    const sms = await create(tenant, twilioInput('sms-default', DEFAULTS, noSender));
    expect(sms.errors).toBeUndefined();
    expect(sms.data!.createChannelConfig.senders).toMatchObject({
      fromNumber: '+14155550199',
      messagingServiceSid: null,
    });
    const whatsapp = await create(tenant, {
      ...twilioInput('wa-default', DEFAULTS, noSender),
      channel: 'WHATSAPP',
      provider: 'twilio-whatsapp',
    });
    expect(whatsapp.errors).toBeUndefined();
    expect(whatsapp.data!.createChannelConfig.senders.whatsappFrom).toBe('+14155550188');
    const email = await create(tenant, {
      name: 'email-default',
      channel: 'EMAIL',
      provider: 'sendgrid',
      credentials: { apiKey: SG_KEY },
    });
    expect(email.errors).toBeUndefined();
    expect(email.data!.createChannelConfig.senders.fromEmail).toBe('from@defaults.example');
    // A sender given wins over the default.
    const own = await create(tenant, twilioInput('sms-own', DEFAULTS));
    expect(own.data!.createChannelConfig.senders.fromNumber).toBe(DEFAULTS.number);

    // A messaging service as the SMS default lands in messagingServiceSid.
    const service = `MG${'1'.repeat(32)}`;
    await settings(tenant, { defaultSenders: { sms: service } });
    const viaService = await create(tenant, twilioInput('sms-service', DEFAULTS, noSender));
    expect(viaService.data!.createChannelConfig.senders).toMatchObject({
      fromNumber: null,
      messagingServiceSid: service,
    });
  });

  it('each config is throttled at its vendor’s rate under its own key, apart from the shared account and other configs', async () => {
    const redis = stack.herald.services.deps.redis;
    const prefix = stack.env.keyPrefix;
    const e = await created('rate-e', twilioInput('rate-e', RATE_E));
    await created('rate-f', twilioInput('rate-f', RATE_F));
    const rateKey = (key: string) => `${prefix}:rate:${key}:send`;
    // One of the two points (twilio-sms=2) of E's current window already taken, for a minute: E's next send takes
    // the second point, then its rate is used up; nobody else's is.
    await redis.set(rateKey(`config:${e}`), '1', 'PX', 60_000);
    stack.emulator.emulator.reset();

    const eIds = [await send('rate-e'), await send('rate-e'), await send('rate-e')];
    const others = [await send('rate-f'), await send('rate-f'), await send('rate-s'), await send('rate-s')];
    await Promise.all(others.map(settled));
    const eRows = await waitFor(
      async () => {
        const found = await rows(eIds);
        const sent = found.filter((r) => r.status === 'SENT');
        const limited = found.filter((r) => r.status === 'SCHEDULED' && r.error_code === 'RATE_LIMITED');
        return sent.length === 1 && limited.length === 2 ? found : undefined;
      },
      30_000,
      'one of E’s sends through, two waiting for its rate',
    );
    expect(eRows.find((r) => r.status === 'SENT')!.channel_config_id).toBe(e);
    expect((await rows(others)).map((r) => r.status)).toEqual(['SENT', 'SENT', 'SENT', 'SENT']);

    const calls = twilioAccountsCalled();
    expect(calls.filter((sid) => sid === RATE_E.accountSid)).toHaveLength(1);
    expect(calls.filter((sid) => sid === RATE_F.accountSid)).toHaveLength(2);
    expect(calls.filter((sid) => sid === SHARED_SID)).toHaveLength(2);
    await redis.del(rateKey(`config:${e}`));
  });

  it('WhatsApp’s 24-hour window is per sender: a reply to a tenant’s own number opens nothing for the shared number or another tenant’s', async () => {
    const OWN_NUMBER = '+14155550177';
    const own = await created('wa-own', {
      ...twilioInput('wa-own', WA_OWN, { senders: { whatsappFrom: OWN_NUMBER } }),
      channel: 'WHATSAPP',
      provider: 'twilio-whatsapp',
    });
    await created('wa-other', {
      ...twilioInput('wa-other', WA_OTHER, { senders: { whatsappFrom: '+14155550178' } }),
      channel: 'WHATSAPP',
      provider: 'twilio-whatsapp',
    });
    const sendWhatsapp = async (tenant: string, number: string) => {
      await asTenant(tenant);
      return gql<{ sendNotification: { notification: { messages: { id: string }[] } } }>(
        `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { messages { id } } } }`,
        {
          input: {
            userId: `u-${randomUUID()}`,
            type: 'adhoc',
            channels: ['WHATSAPP'],
            to: { whatsapp: number },
            content: { body: 'Your order has shipped' },
          },
        },
        tenant,
      );
    };
    const refused = async (tenant: string, number: string) =>
      expect((await sendWhatsapp(tenant, number)).errors?.[0]?.extensions?.code, tenant).toBe(
        'OUTSIDE_SERVICE_WINDOW',
      );
    const sentThrough = async (tenant: string, number: string) => {
      const result = await sendWhatsapp(tenant, number);
      expect(result.errors, tenant).toBeUndefined();
      return settled(result.data!.sendNotification.notification.messages[0].id);
    };

    // C1 writes to the service-wide sender: a window for the shared number only.
    const c1 = '+14155557001';
    await customerWrites(stack.emulator.url, c1);
    expect(await sentThrough('wa-shared', c1)).toMatchObject({ status: 'SENT', channel_config_id: null });
    await refused('wa-own', c1);
    await refused('wa-other', c1);

    // C2 writes to wa-own's number, through its config's inbound path (the emulator opens its own window too).
    const c2 = '+14155557002';
    await customerWrites(stack.emulator.url, c2, { to: `whatsapp:${OWN_NUMBER}` });
    const sender = new WebhookSender();
    sender.baseUrl = stack.config.server.publicUrl;
    const inbound = await sender.twilio(
      `/webhooks/twilio/${own}/inbound`,
      {
        MessageSid: `SM${randomBytes(16).toString('hex')}`,
        From: `whatsapp:${c2}`,
        To: `whatsapp:${OWN_NUMBER}`,
        Body: 'Hi, any news?',
      },
      { token: WA_OWN.authToken },
    );
    expect(inbound.status).toBe(200);
    expect(await sentThrough('wa-own', c2)).toMatchObject({ status: 'SENT', channel_config_id: own });
    await refused('wa-shared', c2);
    await refused('wa-other', c2);
  });

  it('no secret appears in any log line written during these tests', () => {
    const logged = logLines.join('');
    for (const secret of SECRETS) expect(logged).not.toContain(secret);
  });
});
