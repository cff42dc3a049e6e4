import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMULATED_TWILIO_PRICE_PER_SEGMENT, SANDBOX_EMULATOR_CREDENTIALS } from '../../src/sandbox/emulator';
import { execute, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

/**
 * Issue 13 end to end, as a newcomer would try it in the sandbox: two tenants each add their own emulated Twilio and
 * SendGrid accounts (through the emulator's control API), create channel configs with them, and every report about
 * their messages — status callbacks, SendGrid events, opens and clicks, inbound replies and a STOP — comes back
 * through that config's own webhook paths, signed with that account's own secret. Nothing reaches the service-wide
 * paths.
 */
const SECRET = 'channel-config-roundtrip-secret-long-enough!';
const tenants = {
  a: {
    tenant: 'round-a',
    accountSid: `AC${'a'.repeat(32)}`,
    authToken: `round-a-token-${randomBytes(8).toString('hex')}`,
    apiKey: `SG.round-a.${randomBytes(12).toString('hex')}`,
    number: '+14155550111',
  },
  b: {
    tenant: 'round-b',
    accountSid: `AC${'b'.repeat(32)}`,
    authToken: `round-b-token-${randomBytes(8).toString('hex')}`,
    apiKey: `SG.round-b.${randomBytes(12).toString('hex')}`,
    number: '+14155550122',
  },
};
/** A third tenant whose only SMS config is deleted while a send through it is in flight. */
const deleting = {
  tenant: 'round-c',
  accountSid: `AC${'c'.repeat(32)}`,
  authToken: `round-c-token-${randomBytes(8).toString('hex')}`,
  number: '+14155550133',
};
/** How long the emulated Twilio holds the in-flight send: ample time to delete the config meanwhile. */
const HELD_SEND_MS = 5_000;
type Tenant = (typeof tenants)['a'];
/** Each case waits for several webhook round trips (up to 30 s each on a loaded machine). */
const ROUND_TRIP_TIMEOUT_MS = 120_000;
/** One phone both tenants' users have: a STOP to A's number must not block B. */
const PHONE = '+14155552671';

const token = (tenant: string) =>
  new SignJWT({ tenant, scope: 'admin' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(`${tenant}-admin`)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET));

interface MessageView {
  id: string;
  channel: string;
  status: string;
  channelConfigId: string | null;
  providerMessageId: string | null;
  deliveredAt: string | null;
  openedAt: string | null;
  clickedAt: string | null;
  error: { code: string } | null;
  events: { status: string; provider: string | null; eventType: string | null }[];
}

describe('the full sandbox round trip through two tenants’ own accounts (issue 13)', () => {
  let stack: TestStack;
  let db: pg.Client;
  let publicUrl: string;
  const bearer: Record<string, string> = {};
  const configs: Record<'a' | 'b', { sms: string; mail: string }> = {
    a: { sms: '', mail: '' },
    b: { sms: '', mail: '' },
  };

  const gql = async <T>(tenant: string, query: string, variables: Record<string, unknown> = {}) => {
    const result = await execute<T, Record<string, unknown>>(stack.url, query, variables, bearer[tenant]);
    expect(result.errors, query).toBeUndefined();
    return result.data!;
  };
  /** The emulator's control API, as a newcomer calls it under /sandbox/__emulator. */
  const control = async (path: string, body: unknown) => {
    const response = await fetch(`${stack.emulator.url}/__emulator${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  const createConfig = async (t: Tenant, input: Record<string, unknown>) => {
    const data = await gql<{ createChannelConfig: { id: string; active: boolean } }>(
      t.tenant,
      'mutation ($input: CreateChannelConfigInput!) { createChannelConfig(input: $input) { id active } }',
      { input },
    );
    expect(data.createChannelConfig.active).toBe(true);
    return data.createChannelConfig.id;
  };

  /**
   * A tenant's setup, in the order the vendors impose: the account must exist before its config validates, and its
   * webhooks need the config's id.
   */
  const setUp = async (letter: 'a' | 'b') => {
    const t = tenants[letter];
    expect(
      (
        await control('/accounts', {
          twilio: { accountSid: t.accountSid, authToken: t.authToken },
          sendgrid: { apiKey: t.apiKey },
        })
      ).status,
    ).toBe(201);
    const sms = await createConfig(t, {
      name: `${letter}-sms`,
      channel: 'SMS',
      provider: 'twilio-sms',
      senders: { fromNumber: t.number },
      identifiers: { accountSid: t.accountSid },
      credentials: { authToken: t.authToken },
    });
    const mail = await createConfig(t, {
      name: `${letter}-mail`,
      channel: 'EMAIL',
      provider: 'sendgrid',
      senders: { fromEmail: `news@${letter}.example` },
      credentials: { apiKey: t.apiKey },
    });
    // The number's incoming-message webhook and the SendGrid account's Event Webhook: the config's own paths.
    const hooks = await control('/accounts', {
      twilio: {
        accountSid: t.accountSid,
        authToken: t.authToken,
        numbers: [{ number: t.number, inboundUrl: `${publicUrl}/webhooks/twilio/${sms}/inbound` }],
      },
      sendgrid: { apiKey: t.apiKey, eventWebhookUrl: `${publicUrl}/webhooks/sendgrid/${mail}/events` },
    });
    expect(hooks.status).toBe(201);
    expect(typeof hooks.body.sendgridWebhookPublicKey).toBe('string');
    await gql(
      t.tenant,
      'mutation ($id: ID!, $input: UpdateChannelConfigInput!) { updateChannelConfig(id: $id, input: $input) { id } }',
      { id: mail, input: { identifiers: { webhookPublicKey: hooks.body.sendgridWebhookPublicKey } } },
    );
    configs[letter] = { sms, mail };
  };

  const send = async (t: Tenant, userId: string, channels: string[]) => {
    const data = await gql<{
      sendNotification: { notification: { messages: { id: string; channel: string }[] } };
    }>(
      t.tenant,
      `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) {
         notification { messages { id channel } } } }`,
      {
        input: {
          userId,
          type: 'adhoc',
          channels,
          content: { subject: 'Your order', text: 'It ships today', body: 'Your order ships today' },
        },
      },
    );
    return Object.fromEntries(data.sendNotification.notification.messages.map((m) => [m.channel, m.id]));
  };
  const message = async (t: Tenant, id: string) =>
    (
      await gql<{ message: MessageView }>(
        t.tenant,
        `query ($id: ID!) { message(id: $id) { id channel status channelConfigId providerMessageId deliveredAt
           openedAt clickedAt error { code } events { status provider eventType } } }`,
        { id },
      )
    ).message;
  const waitForMessage = (t: Tenant, id: string, ok: (m: MessageView) => boolean, what: string) =>
    waitFor(
      async () => {
        const m = await message(t, id);
        return ok(m) && m;
      },
      30_000,
      what,
    );
  const storedUnder = async (messageId: string) =>
    (
      await db.query<{ provider: string }>(
        'select distinct provider from provider_event where message_id = $1 order by provider',
        [messageId],
      )
    ).rows.map((r) => r.provider);
  /** A customer's SMS reaching the emulated Twilio, which forwards it to the number's webhook. */
  const customerTexts = async (to: string, body: string) => {
    const { status, body: received } = await control('/twilio/inbound', { From: PHONE, To: to, Body: body });
    expect(status).toBe(201);
    return received as { messageSid: string; forwarded: { url: string; status: number | 'error' } | null };
  };

  const users: Record<'a' | 'b', string> = { a: '', b: '' };
  const sent: Record<'a' | 'b', Record<string, string>> = { a: {}, b: {} };

  beforeAll(async () => {
    stack = await startStack({
      callbacksDelayMs: 50,
      extraEnv: {
        JWT_SECRET: SECRET,
        CONFIG_ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}`,
        CHANNEL_CONFIG_ROUTES_TTL_MS: '0',
        // Prices are asked for as soon as a message is delivered.
        PROVIDER_PRICE_DELAY_MS: '0',
        // Longer than HELD_SEND_MS: the held send is answered, not timed out.
        PROVIDER_TIMEOUT_MS: '20000',
      },
    });
    publicUrl = stack.config.server.publicUrl;
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    for (const letter of ['a', 'b'] as const) {
      bearer[tenants[letter].tenant] = await token(tenants[letter].tenant);
      await setUp(letter);
      users[letter] = `u-${randomUUID()}`;
      await gql(
        tenants[letter].tenant,
        'mutation ($userId: ID!, $input: ContactInput!) { updateContact(userId: $userId, input: $input) { userId } }',
        { userId: users[letter], input: { phone: PHONE, email: `customer-${letter}@example.com` } },
      );
    }
  });

  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  it.each(['a', 'b'] as const)(
    'tenant %s: SMS and email go out through its own accounts and come back SENT → DELIVERED on its own paths',
    async (letter) => {
      const t = tenants[letter];
      sent[letter] = await send(t, users[letter], ['SMS', 'EMAIL']);
      const sms = await waitForMessage(t, sent[letter].SMS, (m) => m.status === 'DELIVERED', 'SMS delivered');
      const email = await waitForMessage(
        t,
        sent[letter].EMAIL,
        (m) => m.status === 'DELIVERED',
        'email delivered',
      );
      expect(sms.channelConfigId).toBe(configs[letter].sms);
      expect(email.channelConfigId).toBe(configs[letter].mail);

      // The emulator's record: which account sent each.
      const twilioSend = stack.emulator.emulator
        .recorded('twilio')
        .find((r) => (r.response as { sid?: string }).sid === sms.providerMessageId);
      expect(twilioSend?.path).toContain(`/Accounts/${t.accountSid}/Messages.json`);
      expect((twilioSend?.body as { From?: string }).From).toBe(t.number);
      const sendgridSend = stack.emulator.emulator
        .recorded('sendgrid')
        .find(
          (r) =>
            (r.body as { custom_args?: Record<string, string> }).custom_args?.herald_message_id === email.id,
        );
      // The recording names the key by its id, never its secret part (recording-redaction.ts).
      expect(sendgridSend?.headers.authorization).toBe(`Bearer ${t.apiKey.replace(/\.[^.]+$/, '.***')}`);

      // SENT then DELIVERED, each reported through the config's own path.
      const reported = (m: MessageView) =>
        m.events.filter((e) => e.provider !== null && e.eventType !== null).map((e) => e.eventType);
      await waitForMessage(
        t,
        sms.id,
        (m) => reported(m).includes('sent') && reported(m).includes('delivered'),
        'Twilio sent and delivered in the history',
      );
      expect(sms.events.map((e) => e.status)).toEqual(expect.arrayContaining(['SENT', 'DELIVERED']));
      expect(await storedUnder(sms.id)).toEqual([`twilio:${configs[letter].sms}`]);
      expect(await storedUnder(email.id)).toEqual([`sendgrid:${configs[letter].mail}`]);
    },
    ROUND_TRIP_TIMEOUT_MS,
  );

  it.each(['a', 'b'] as const)(
    'tenant %s: its SMS price is looked up through its own account, never the service-wide one',
    async (letter) => {
      const t = tenants[letter];
      const id = sent[letter].SMS;
      expect(id).toBeTruthy();
      // Settled either way: the price recorded, or the look-up given up (the estimate kept).
      const priced = await waitFor(
        async () => {
          const { rows } = await db.query<{
            cost: string;
            cost_source: string;
            segments: number;
            price_checks: number;
            price_check_due_at: Date | null;
          }>(
            'select cost, cost_source, segments, price_checks, price_check_due_at from message where id = $1',
            [id],
          );
          return rows[0]?.price_checks > 0 && rows[0].price_check_due_at === null ? rows[0] : undefined;
        },
        30_000,
        'price look-up settled',
      );
      expect(priced.cost_source).toBe('provider');
      expect(Number(priced.cost)).toBeCloseTo(priced.segments * EMULATED_TWILIO_PRICE_PER_SEGMENT, 6);
      const lookups = stack.emulator.emulator.twilioLookupsByAccount;
      expect(lookups.get(t.accountSid)).toBeGreaterThanOrEqual(1);
      expect(lookups.get(SANDBOX_EMULATOR_CREDENTIALS.twilio.accountSid)).toBeUndefined();
    },
    ROUND_TRIP_TIMEOUT_MS,
  );

  it.each(['a', 'b'] as const)(
    'tenant %s: an open and a click arrive through its SendGrid events path and set openedAt, clickedAt',
    async (letter) => {
      const t = tenants[letter];
      const id = sent[letter].EMAIL;
      expect(id).toBeTruthy();
      expect((await control('/sendgrid/engagement', { heraldMessageId: id, event: 'open' })).status).toBe(
        202,
      );
      const opened = await waitForMessage(t, id, (m) => m.openedAt !== null, 'openedAt');
      expect(opened.status).toBe('OPENED');
      expect(
        (
          await control('/sendgrid/engagement', {
            heraldMessageId: id,
            event: 'click',
            url: 'https://example.com/order',
          })
        ).status,
      ).toBe(202);
      const clicked = await waitForMessage(t, id, (m) => m.clickedAt !== null, 'clickedAt');
      expect(clicked.status).toBe('CLICKED');
      expect(await storedUnder(id)).toEqual([`sendgrid:${configs[letter].mail}`]);
    },
    ROUND_TRIP_TIMEOUT_MS,
  );

  it(
    'a reply and a STOP to A’s number arrive on A’s inbound path, stored for A; the STOP blocks A only',
    async () => {
      const a = tenants.a;
      const b = tenants.b;
      const reply = await customerTexts(a.number, 'Thanks, see you then');
      expect(reply.forwarded).toEqual({
        url: `${publicUrl}/webhooks/twilio/${configs.a.sms}/inbound`,
        status: 200,
      });
      const stop = await customerTexts(a.number, 'STOP');
      expect(stop.forwarded).toEqual({
        url: `${publicUrl}/webhooks/twilio/${configs.a.sms}/inbound`,
        status: 200,
      });

      const stored = await db.query<{
        provider_message_id: string;
        tenant_id: string;
        user_id: string | null;
        channel_config_id: string | null;
        keyword: string | null;
      }>(
        `select provider_message_id, tenant_id, user_id, channel_config_id, keyword from inbound_message
        where provider_message_id = any($1) order by received_at`,
        [[reply.messageSid, stop.messageSid]],
      );
      expect(stored.rows).toEqual([
        {
          provider_message_id: reply.messageSid,
          tenant_id: a.tenant,
          user_id: users.a,
          channel_config_id: configs.a.sms,
          keyword: null,
        },
        {
          provider_message_id: stop.messageSid,
          tenant_id: a.tenant,
          user_id: users.a,
          channel_config_id: configs.a.sms,
          keyword: 'STOP',
        },
      ]);

      // A's next SMS to the number is blocked; B, on its own number, still reaches it and hears back as usual.
      const blocked = await send(a, users.a, ['SMS']);
      expect(
        await waitForMessage(a, blocked.SMS, (m) => m.status === 'SUPPRESSED', 'A suppressed'),
      ).toMatchObject({ error: { code: 'opted_out' } });
      const allowed = await send(b, users.b, ['SMS']);
      const delivered = await waitForMessage(b, allowed.SMS, (m) => m.status === 'DELIVERED', 'B delivered');
      expect(delivered.channelConfigId).toBe(configs.b.sms);
      expect(await storedUnder(allowed.SMS)).toEqual([`twilio:${configs.b.sms}`]);
    },
    ROUND_TRIP_TIMEOUT_MS,
  );

  it('nothing about these messages reached the service-wide webhook paths', async () => {
    const callbacks = stack.emulator.emulator.callbacks!.sent;
    expect(callbacks.length).toBeGreaterThan(0);
    const configPaths = [
      ...Object.values(configs).map((c) => `${publicUrl}/webhooks/twilio/${c.sms}/status`),
      ...Object.values(configs).map((c) => `${publicUrl}/webhooks/sendgrid/${c.mail}/events`),
    ];
    for (const callback of callbacks) {
      expect(
        configPaths.some((path) => callback.url.startsWith(path)),
        callback.url,
      ).toBe(true);
      expect([200, 204], `${callback.url} ${callback.event}`).toContain(callback.status);
    }
    const shared = await db.query<{ provider: string; n: number }>(
      `select provider, count(*)::int n from provider_event where provider in ('twilio', 'sendgrid') group by 1`,
    );
    expect(shared.rows).toEqual([]);
    const sharedInbound = await db.query<{ n: number }>(
      'select count(*)::int n from inbound_message where channel_config_id is null',
    );
    expect(sharedInbound.rows[0].n).toBe(0);
  });

  it(
    'a config deleted while a send through it is in flight: the send ends DELIVERED through the deleted config’s path, a STOP to its number still applies, and after the window it is purged (404)',
    async () => {
      const c = deleting;
      bearer[c.tenant] = await token(c.tenant);
      expect(
        (
          await control('/accounts', {
            twilio: { accountSid: c.accountSid, authToken: c.authToken },
          })
        ).status,
      ).toBe(201);
      const id = await createConfig(c as unknown as Tenant, {
        name: 'c-sms',
        channel: 'SMS',
        provider: 'twilio-sms',
        senders: { fromNumber: c.number },
        identifiers: { accountSid: c.accountSid },
        credentials: { authToken: c.authToken },
      });
      await control('/accounts', {
        twilio: {
          accountSid: c.accountSid,
          authToken: c.authToken,
          numbers: [{ number: c.number, inboundUrl: `${publicUrl}/webhooks/twilio/${id}/inbound` }],
        },
      });
      const user = `u-${randomUUID()}`;
      await gql(
        c.tenant,
        'mutation ($userId: ID!, $input: ContactInput!) { updateContact(userId: $userId, input: $input) { userId } }',
        { userId: user, input: { phone: PHONE } },
      );
      expect(
        (
          await control('/faults', {
            vendor: 'twilio',
            count: 1,
            delayMs: HELD_SEND_MS,
            account: c.accountSid,
          })
        ).status,
      ).toBe(201);
      const { SMS: messageId } = await send(c as unknown as Tenant, user, ['SMS']);
      await waitFor(
        () => Promise.resolve(stack.emulator.emulator.inFlight > 0),
        30_000,
        'the send held by the emulator',
      );
      const deleted = await gql<{ deleteChannelConfig: boolean }>(
        c.tenant,
        'mutation ($id: ID!) { deleteChannelConfig(id: $id) }',
        { id },
      );
      expect(deleted.deleteChannelConfig).toBe(true);

      // Gone from the API at once: not listed, null, not updatable, its name free again.
      const listed = await gql<{ channelConfigs: { id: string }[] }>(c.tenant, '{ channelConfigs { id } }');
      expect(listed.channelConfigs).toEqual([]);
      const one = await gql<{ channelConfig: null }>(
        c.tenant,
        'query ($id: ID!) { channelConfig(id: $id) { id } }',
        {
          id,
        },
      );
      expect(one.channelConfig).toBeNull();
      const update = await execute(
        stack.url,
        'mutation ($id: ID!, $input: UpdateChannelConfigInput!) { updateChannelConfig(id: $id, input: $input) { id } }',
        { id, input: { name: 'c-sms-renamed' } },
        bearer[c.tenant],
      );
      expect(update.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      const again = await execute(
        stack.url,
        'mutation ($id: ID!) { deleteChannelConfig(id: $id) }',
        { id },
        bearer[c.tenant],
      );
      expect(again.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      const sameName = await createConfig(c as unknown as Tenant, {
        name: 'c-sms',
        channel: 'SMS',
        provider: 'twilio-sms',
        senders: { fromNumber: c.number },
        identifiers: { accountSid: c.accountSid },
        credentials: { authToken: c.authToken },
      });
      // Its name is free again (the unique index covers live configs only).
      expect(sameName).not.toBe(id);

      // The send in flight completes through the deleted config, and its reports still land.
      const delivered = await waitForMessage(
        c as unknown as Tenant,
        messageId,
        (m) => m.status === 'DELIVERED',
        'the in-flight SMS delivered after its config was deleted',
      );
      expect(delivered.channelConfigId).toBe(id);
      expect(await storedUnder(messageId)).toEqual([`twilio:${id}`]);
      const callbacks = stack.emulator.emulator.callbacks!.sent.filter((cb) => cb.url.includes(`/${id}/`));
      expect(callbacks.length).toBeGreaterThan(0);
      for (const callback of callbacks) expect(callback.status, callback.url).toBe(204);
      // Its price is not asked of anyone once the config is deleted: the estimate stays, asked once, not retried.
      const priced = await waitFor(
        async () =>
          (
            await db.query<{ cost_source: string; price_checks: number; price_check_due_at: Date | null }>(
              'select cost_source, price_checks, price_check_due_at from message where id = $1',
              [messageId],
            )
          ).rows.find((r) => r.price_checks > 0 && r.price_check_due_at === null),
        30_000,
        'price look-up settled',
      );
      expect(priced).toMatchObject({ cost_source: 'estimate', price_checks: 1 });
      expect(stack.emulator.emulator.twilioLookupsByAccount.get(c.accountSid)).toBeUndefined();

      // A recipient's STOP to the deleted config's number is recorded for its tenant and blocks it.
      const stop = await customerTexts(c.number, 'STOP');
      expect(stop.forwarded).toEqual({ url: `${publicUrl}/webhooks/twilio/${id}/inbound`, status: 200 });
      const inbound = await db.query<{ tenant_id: string; channel_config_id: string; keyword: string }>(
        'select tenant_id, channel_config_id, keyword from inbound_message where provider_message_id = $1',
        [stop.messageSid],
      );
      expect(inbound.rows).toEqual([{ tenant_id: c.tenant, channel_config_id: id, keyword: 'STOP' }]);
      const blocks = await waitFor(
        async () =>
          (
            await db.query<{ identity: string }>(
              `select identity from address_block where address = $1 and kind = 'OPT_OUT'`,
              [PHONE],
            )
          ).rows.find((r) => r.identity === c.tenant),
        30_000,
        'the STOP applied',
      );
      expect(blocks.identity).toBe(c.tenant);

      // Deleted longer ago than DELETED_CHANNEL_CONFIG_WEBHOOK_DAYS (30): the scheduler purges it, its paths 404.
      await db.query(`update channel_config set deleted_at = now() - interval '31 days' where id = $1`, [id]);
      await waitFor(
        async () =>
          (await db.query('select 1 from channel_config where id = $1', [id])).rowCount === 0 || undefined,
        30_000,
        'the deleted config purged',
      );
      const late = await customerTexts(c.number, 'START');
      expect(late.forwarded).toEqual({ url: `${publicUrl}/webhooks/twilio/${id}/inbound`, status: 404 });
      // Its messages stay, as they were.
      expect(await message(c as unknown as Tenant, messageId)).toMatchObject({
        status: 'DELIVERED',
        channelConfigId: id,
      });
    },
    ROUND_TRIP_TIMEOUT_MS,
  );
});
