import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import twilio from 'twilio';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SANDBOX, SANDBOX_SENDGRID_WEBHOOK_KEYS } from '../../src/config/sandbox';
import { startEmulatorServer, type RunningEmulator } from '../../src/sandbox/emulator-server';
import { ProviderError } from '../../src/providers/provider.types';
import { SendgridProvider } from '../../src/providers/sendgrid.provider';
import { TwilioSmsProvider, TwilioWhatsappProvider } from '../../src/providers/twilio.provider';
import { waitFor } from '../support/graphql';

interface Captured {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A stand-in for Herald's webhooks: records every request and answers 200. */
async function captureServer(): Promise<{ url: string; received: Captured[]; close(): Promise<void> }> {
  const received: Captured[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The emulator's tenant accounts (issue 13): each reports where that account is configured to, signed with its own
 * secret, or nowhere; never through the primary account's webhooks.
 */
const NUMBERS_RULE =
  'twilio.numbers: expected an array of { number, inboundUrl? }, each number in E.164 (+14155550100, or whatsapp:+14155550100), with an http(s) inboundUrl';

describe('emulated tenant accounts and where they report', () => {
  let herald: Awaited<ReturnType<typeof captureServer>>;
  let running: RunningEmulator;
  const ctx = (messageId: string) => ({ messageId, tenantId: 'tenant-a', attempt: 1 });
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${running.url}/__emulator${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const mailer = (apiKey: string) =>
    new SendgridProvider({
      mode: 'live',
      apiKey,
      from: 'news@tenant.example',
      apiUrl: `${running.url}/sendgrid`,
      timeoutMs: 2_000,
    });
  const eventsOf = (path: string) =>
    herald.received
      .filter((r) => r.path === path)
      .flatMap((r) => JSON.parse(r.body) as { event: string; herald_message_id?: string }[]);

  beforeAll(async () => {
    herald = await captureServer();
    running = await startEmulatorServer({
      callbacks: {
        delayMs: 10,
        sendgridEventsUrl: `${herald.url}/webhooks/sendgrid/events`,
        sendgridPrivateKeyPem: SANDBOX_SENDGRID_WEBHOOK_KEYS.privateKeyPem,
      },
      twilioInboundUrl: `${herald.url}/webhooks/twilio/inbound`,
    });
  });
  beforeEach(() => {
    herald.received.length = 0;
  });
  afterAll(async () => {
    await running?.close();
    await herald?.close();
  });

  it('an added SendGrid account without an Event Webhook reports nothing: no events, engagement 409', async () => {
    const apiKey = `SG.quiet.${randomBytes(12).toString('hex')}`;
    expect((await post('/accounts', { sendgrid: { apiKey } })).status).toBe(201);
    await mailer(apiKey).send({ to: 'quiet@example.com', subject: 's', text: 't' }, ctx('m-quiet'));
    // The primary account's mail, sent after it with the same callback delays, reports as usual.
    await mailer(SANDBOX.sendgrid.apiKey).send(
      { to: 'loud@example.com', subject: 's', text: 't' },
      ctx('m-loud'),
    );
    await waitFor(
      () => Promise.resolve(eventsOf('/webhooks/sendgrid/events').some((e) => e.event === 'delivered')),
      10_000,
      'the primary account’s delivered event',
    );
    expect(eventsOf('/webhooks/sendgrid/events').filter((e) => e.herald_message_id === 'm-quiet')).toEqual(
      [],
    );
    expect(await post('/sendgrid/engagement', { heraldMessageId: 'm-quiet', event: 'open' })).toEqual({
      status: 409,
      body: {
        reported: false,
        error: 'the account that sent it has no Event Webhook: register its sendgrid.eventWebhookUrl',
      },
    });
  });

  it('registering an Event Webhook later keeps the account’s key; its opens go there, signed with that key', async () => {
    const apiKey = `SG.later.${randomBytes(12).toString('hex')}`;
    const first = await post('/accounts', {
      sendgrid: { apiKey, eventWebhookUrl: `${herald.url}/old/events` },
    });
    const second = await post('/accounts', {
      sendgrid: { apiKey, eventWebhookUrl: `${herald.url}/webhooks/sendgrid/cfg-1/events` },
    });
    expect(second.body.sendgridWebhookPublicKey).toBe(first.body.sendgridWebhookPublicKey);
    await mailer(apiKey).send({ to: 'later@example.com', subject: 's', text: 't' }, ctx('m-later'));
    expect((await post('/sendgrid/engagement', { heraldMessageId: 'm-later', event: 'open' })).status).toBe(
      202,
    );
    const open = herald.received.find(
      (r) => r.path === '/webhooks/sendgrid/cfg-1/events' && r.body.includes('"open"'),
    )!;
    const publicKey = createPublicKey({
      key: Buffer.from(String(second.body.sendgridWebhookPublicKey), 'base64'),
      format: 'der',
      type: 'spki',
    });
    const timestamp = String(open.headers['x-twilio-email-event-webhook-timestamp']);
    const signature = Buffer.from(String(open.headers['x-twilio-email-event-webhook-signature']), 'base64');
    expect(verify('sha256', Buffer.from(timestamp + open.body), publicKey, signature)).toBe(true);
    expect(
      herald.received.filter(
        (r) => r.path === '/old/events' || r.path.startsWith('/webhooks/sendgrid/events'),
      ),
    ).toEqual([]);
  });

  it('a message to a registered number goes to its inboundUrl from its account, signed with its token; others to the primary', async () => {
    const account = {
      accountSid: `AC${'d'.repeat(32)}`,
      authToken: `token-${randomBytes(8).toString('hex')}`,
    };
    const sms = `${herald.url}/webhooks/twilio/cfg-sms/inbound`;
    const wa = `${herald.url}/webhooks/twilio/cfg-wa/inbound`;
    expect(
      (
        await post('/accounts', {
          twilio: {
            ...account,
            numbers: [
              { number: '+14155550144', inboundUrl: sms },
              { number: 'whatsapp:+14155550144', inboundUrl: wa },
            ],
          },
        })
      ).status,
    ).toBe(201);
    const cases = [
      { From: '+14155559001', To: '+14155550144', url: sms, account },
      { From: 'whatsapp:+14155559001', To: 'whatsapp:+14155550144', url: wa, account },
      {
        From: '+14155559001',
        To: SANDBOX.twilio.from,
        url: `${herald.url}/webhooks/twilio/inbound`,
        account: SANDBOX.twilio,
      },
    ];
    for (const c of cases) {
      const { status, body } = await post('/twilio/inbound', { From: c.From, To: c.To, Body: 'hello' });
      expect(status).toBe(201);
      expect(body.forwarded).toEqual({ url: c.url, status: 200 });
      const request = herald.received.find((r) => r.body.includes(String(body.messageSid)))!;
      const params = Object.fromEntries(new URLSearchParams(request.body));
      expect(params.AccountSid, c.To).toBe(c.account.accountSid);
      expect(
        twilio.validateRequest(
          c.account.authToken,
          String(request.headers['x-twilio-signature']),
          c.url,
          params,
        ),
        c.To,
      ).toBe(true);
    }
  });

  it('a registration cannot take over another account, its token or its number: 409, the owner keeps them', async () => {
    const owner = { accountSid: `AC${randomBytes(16).toString('hex')}`, authToken: 'owner-token' };
    const number = '+14155550177';
    const inboundUrl = `${herald.url}/webhooks/twilio/owner/inbound`;
    expect(
      (await post('/accounts', { twilio: { ...owner, numbers: [{ number, inboundUrl }] } })).status,
    ).toBe(201);
    // The owner may register again (new webhooks) with its own token.
    expect(
      (await post('/accounts', { twilio: { ...owner, numbers: [{ number, inboundUrl }] } })).status,
    ).toBe(201);
    expect(
      await post('/accounts', {
        twilio: {
          accountSid: owner.accountSid,
          authToken: 'mallory-token',
          numbers: [{ number, inboundUrl: `${herald.url}/m` }],
        },
      }),
    ).toEqual({
      status: 409,
      body: {
        error: `twilio.authToken: account ${owner.accountSid} is registered with another auth token; register it with its own`,
      },
    });
    const mallory = { accountSid: `AC${randomBytes(16).toString('hex')}`, authToken: 'mallory-token' };
    expect(
      await post('/accounts', {
        twilio: { ...mallory, numbers: [{ number, inboundUrl: `${herald.url}/m` }] },
      }),
    ).toEqual({ status: 409, body: { error: `twilio.numbers: ${number} belongs to another account` } });
    expect(
      (await post('/accounts', { twilio: { accountSid: SANDBOX.twilio.accountSid, authToken: 'x' } })).status,
    ).toBe(409);
    expect((await post('/accounts', { sendgrid: { apiKey: SANDBOX.sendgrid.apiKey } })).status).toBe(409);
    // The sandbox account's numbers are every sharing tenant's: neither form of either can be taken (break round b13d).
    for (const number of [
      SANDBOX.twilio.from,
      `whatsapp:${SANDBOX.twilio.from}`,
      SANDBOX.twilio.whatsappFrom,
      SANDBOX.twilio.whatsappFrom.replace(/^whatsapp:/, ''),
    ]) {
      expect(await post('/accounts', { twilio: { ...mallory, numbers: [{ number }] } })).toEqual({
        status: 409,
        body: {
          error: `twilio.numbers: ${number} is the emulator's primary (sandbox) number and cannot be registered`,
        },
      });
    }
    // The number still reports to its owner's webhook.
    const { body } = await post('/twilio/inbound', { From: '+14155559002', To: number, Body: 'hello' });
    expect(body.forwarded).toMatchObject({ url: inboundUrl });
  });

  it('an account sends only from its own senders: another account’s number 21606, WhatsApp 63007, Messaging Service 21701 (break round b13c, finding 2)', async () => {
    const account = (letter: string) => ({
      accountSid: `AC${letter.repeat(32)}`,
      authToken: `token-${letter}-${randomBytes(8).toString('hex')}`,
    });
    const a = account('a');
    const b = account('b');
    const aService = `MG${'a'.repeat(32)}`;
    expect(
      (
        await post('/accounts', {
          twilio: {
            ...a,
            // A number needs no webhook to be the account's.
            numbers: [{ number: '+14155550161' }, { number: 'whatsapp:+14155550161' }],
            messagingServiceSids: [aService],
          },
        })
      ).status,
    ).toBe(201);
    expect(
      (await post('/accounts', { twilio: { ...b, numbers: [{ number: '+14155550162' }] } })).status,
    ).toBe(201);
    const sms = (owner: typeof a, from: string) =>
      new TwilioSmsProvider({
        mode: 'live',
        ...owner,
        from,
        whatsappFrom: from,
        apiUrl: `${running.url}/twilio`,
        statusCallbackUrl: `${herald.url}/webhooks/twilio/status`,
        timeoutMs: 2_000,
      });
    const whatsapp = (owner: typeof a, from: string) =>
      new TwilioWhatsappProvider({
        mode: 'live',
        ...owner,
        from,
        whatsappFrom: from,
        apiUrl: `${running.url}/twilio`,
        statusCallbackUrl: `${herald.url}/webhooks/twilio/status`,
        timeoutMs: 2_000,
      });
    const refusal = (send: Promise<unknown>) =>
      send.then(
        () => undefined,
        (error: unknown) => {
          expect(error).toBeInstanceOf(ProviderError);
          const { code, retryable, details } = error as ProviderError;
          return { code, retryable, accountRefused: details.accountRefused, status: details.status };
        },
      );
    const text = { to: '+14155552671', body: 'hello' };
    const wa = { to: '+14155552671', body: '', template: { contentSid: `HX${'0'.repeat(32)}` } };
    const recordedBefore = running.emulator.recorded('twilio').length;

    // Each account sends from its own senders.
    expect((await sms(a, '+14155550161').send(text, ctx('own-a'))).providerMessageId).toMatch(/^SM/);
    expect((await sms(a, aService).send(text, ctx('own-a-mg'))).providerMessageId).toMatch(/^SM/);
    expect((await whatsapp(a, '+14155550161').send(wa, ctx('own-a-wa'))).providerMessageId).toMatch(/^SM/);
    expect((await sms(b, '+14155550162').send(text, ctx('own-b'))).providerMessageId).toMatch(/^SM/);

    // B from A's number, A's WhatsApp sender, A's Messaging Service, or a number nobody registered: refused, as the
    // config's sender (accountRefused), never retried.
    const refused = (code: string) => ({ code, retryable: false, accountRefused: true, status: 400 });
    expect(await refusal(sms(b, '+14155550161').send(text, ctx('b-from-a')))).toEqual(refused('21606'));
    expect(await refusal(sms(b, '+14155550199').send(text, ctx('b-unknown')))).toEqual(refused('21606'));
    expect(await refusal(whatsapp(b, '+14155550161').send(wa, ctx('b-wa-a')))).toEqual(refused('63007'));
    expect(await refusal(sms(b, aService).send(text, ctx('b-mg-a')))).toEqual(refused('21701'));
    // A's SMS number is not a WhatsApp sender until registered as one.
    expect(await refusal(whatsapp(b, '+14155550162').send(wa, ctx('b-wa-sms')))).toEqual(refused('63007'));
    // The sandbox account keeps its open pool, but not the numbers a tenant account owns.
    const primary = { accountSid: SANDBOX.twilio.accountSid, authToken: SANDBOX.twilio.authToken };
    expect((await sms(primary, SANDBOX.twilio.from).send(text, ctx('primary'))).providerMessageId).toMatch(
      /^SM/,
    );
    expect(await refusal(sms(primary, '+14155550161').send(text, ctx('primary-from-a')))).toEqual(
      refused('21606'),
    );
    const answered = running.emulator
      .recorded('twilio')
      .slice(recordedBefore)
      .filter((r) => r.status === 400)
      .map((r) => (r.response as { code: number }).code);
    expect(answered).toEqual([21606, 21606, 63007, 21701, 63007, 21606]);
  });

  it('a registration that breaks a rule answers 400 naming the field', async () => {
    const account = { accountSid: `AC${'e'.repeat(32)}`, authToken: 'token' };
    expect(
      await post('/accounts', {
        twilio: { ...account, numbers: [{ number: '+14155550155', inboundUrl: 'ftp://x' }] },
      }),
    ).toEqual({
      status: 400,
      body: { error: NUMBERS_RULE },
    });
    // One spelling per number (E.164): a variant of the sandbox number cannot be registered either (break round b13d).
    for (const number of [
      '+1 500 555 0006',
      '+1500-555-0006',
      '15005550006',
      'whatsapp: +14155238886',
      '+',
    ]) {
      expect(await post('/accounts', { twilio: { ...account, numbers: [{ number }] } })).toEqual({
        status: 400,
        body: { error: NUMBERS_RULE },
      });
    }
    expect(await post('/accounts', { twilio: { ...account, messagingServiceSids: ['MG123'] } })).toEqual({
      status: 400,
      body: { error: 'twilio.messagingServiceSids: expected an array of MG… SIDs (MG and 32 hex digits)' },
    });
    expect(await post('/accounts', { sendgrid: { apiKey: 'SG.x', eventWebhookUrl: 'ftp://x' } })).toEqual({
      status: 400,
      body: { error: 'sendgrid.eventWebhookUrl: expected an http(s) URL' },
    });
  });
});
