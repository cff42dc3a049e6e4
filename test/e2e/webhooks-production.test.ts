import { createPrivateKey } from 'node:crypto';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX, SANDBOX_SENDGRID_WEBHOOK_KEYS } from '../../src/config/sandbox';
import { SANDBOX_EMULATOR_CREDENTIALS } from '../../src/sandbox/emulator';
import { startEmulatorServer, type RunningEmulator } from '../../src/sandbox/emulator-server';
import {
  CheckConsentDocument,
  MessageDocument,
  SendNotificationDocument,
  UpdateContactDocument,
  type SendNotificationInput,
} from '../support/generated/graphql';
import { executeOk, waitFor } from '../support/graphql';
import { startStack } from '../support/stack';
import { WebhookSender } from '../support/webhooks';

const JWT_SECRET = 'production-test-secret-long-enough-for-hs256';
const SCOPES = 'admin communication:send communication:read consent:manage preferences:manage';
const sandboxSendgridKey = createPrivateKey(SANDBOX_SENDGRID_WEBHOOK_KEYS.privateKeyPem);

const bearer = (tenant: string) =>
  new SignJWT({ tenant, scope: SCOPES })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('svc-test')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(JWT_SECRET));

/** A production Herald (NODE_ENV=production, JWT on) with its own database, and a pg client on it. */
async function productionStack(extraEnv: Record<string, string> = {}) {
  const stack = await startStack({ extraEnv: { NODE_ENV: 'production', JWT_SECRET, ...extraEnv } });
  const db = new pg.Client({ connectionString: stack.env.databaseUrl });
  await db.connect();
  const count = async (sql: string, params: unknown[] = []) =>
    (await db.query<{ n: number }>(`select count(*)::int n from ${sql}`, params)).rows[0].n;
  return { stack, db, count };
}

/** A tenant's user with a phone number (a STOP from it, or an opt-out of it, revokes this user's SMS consent). */
async function consentingUser(url: string, token: string, userId: string, phone: string) {
  await executeOk(url, UpdateContactDocument, { userId, input: { phone } }, token);
}

describe('production, Twilio and SendGrid not configured: no webhook routes, sandbox keys verify nothing', () => {
  const sandboxSigner = new WebhookSender(SANDBOX.twilio.authToken);
  let env: Awaited<ReturnType<typeof productionStack>>;
  let token: string;

  beforeAll(async () => {
    env = await productionStack();
    sandboxSigner.baseUrl = env.stack.config.server.publicUrl;
    token = await bearer('acme');
  });
  afterAll(async () => {
    await env?.db.end();
    await env?.stack.close();
  });

  it('a STOP signed with the sandbox token is 404 and revokes nothing', async () => {
    const phone = '+14155550142';
    await consentingUser(env.stack.url, token, 'u-stop', phone);
    const check = () =>
      executeOk(
        env.stack.url,
        CheckConsentDocument,
        { userId: 'u-stop', channel: 'SMS', type: 'promo' },
        token,
      );
    const before = await check();
    expect(before.checkConsent.canSend).toBe(true);

    const inbound = await sandboxSigner.twilio('/webhooks/twilio/inbound', {
      MessageSid: 'SM00000000000000000000000000000001',
      AccountSid: SANDBOX.twilio.accountSid,
      From: phone,
      To: SANDBOX.twilio.from,
      Body: 'STOP',
    });
    expect(inbound.status).toBe(404);
    const status = await sandboxSigner.twilio('/webhooks/twilio/status', {
      MessageSid: 'SM00000000000000000000000000000002',
      MessageStatus: 'failed',
      ErrorCode: '21610',
      To: phone,
    });
    expect(status.status).toBe(404);

    expect(await check()).toEqual(before);
    expect(await env.count('provider_event')).toBe(0);
    expect(await env.count('address_block')).toBe(0);
    expect(await env.count("consent where status = 'REVOKED'")).toBe(0);
  });

  it('SendGrid events signed with the sandbox key are 404 and nothing is stored or blocked', async () => {
    const events = [
      {
        email: 'victim@example.com',
        event: 'bounce',
        timestamp: Math.floor(Date.now() / 1000),
        sg_event_id: 'forged-bounce-1',
        sg_message_id: 'forged.filter0001',
      },
    ];
    expect((await sandboxSigner.sendgrid(events, { key: sandboxSendgridKey })).status).toBe(404);
    expect(await env.count('provider_event')).toBe(0);
    expect(await env.count('address_block')).toBe(0);
  });
});

describe('production, Twilio and SendGrid configured with their own secrets', () => {
  const TWILIO_ACCOUNT_SID = `AC${'7'.repeat(32)}`;
  const TWILIO_AUTH_TOKEN = 'production-test-twilio-auth-token';
  const SENDGRID_API_KEY = 'SG.production-test-sendgrid-key';
  const signer = new WebhookSender(TWILIO_AUTH_TOKEN);
  const sandboxSigner = new WebhookSender(SANDBOX.twilio.authToken);
  let vendor: RunningEmulator;
  let env: Awaited<ReturnType<typeof productionStack>>;
  let token: string;

  beforeAll(async () => {
    // The vendors' stand-in, accepting only this deployment's credentials (never the sandbox ones).
    vendor = await startEmulatorServer({
      credentials: {
        ...SANDBOX_EMULATOR_CREDENTIALS,
        twilio: { accountSid: TWILIO_ACCOUNT_SID, authToken: TWILIO_AUTH_TOKEN },
        sendgrid: { apiKey: SENDGRID_API_KEY },
      },
    });
    env = await productionStack({
      TWILIO_ACCOUNT_SID,
      TWILIO_AUTH_TOKEN,
      TWILIO_FROM: '+15005550006',
      TWILIO_API_URL: `${vendor.url}/twilio`,
      SENDGRID_API_KEY,
      EMAIL_FROM: 'ops@example.com',
      SENDGRID_API_URL: `${vendor.url}/sendgrid`,
      SENDGRID_WEBHOOK_PUBLIC_KEY: signer.sendgridPublicKey,
    });
    signer.baseUrl = env.stack.config.server.publicUrl;
    sandboxSigner.baseUrl = env.stack.config.server.publicUrl;
    token = await bearer('acme');
  });
  afterAll(async () => {
    await env?.db.end();
    await env?.stack.close();
    await vendor?.close();
  });

  const send = async (input: SendNotificationInput) =>
    (await executeOk(env.stack.url, SendNotificationDocument, { input }, token)).sendNotification.notification
      .messages[0];
  const message = async (id: string) =>
    (await executeOk(env.stack.url, MessageDocument, { id }, token)).message!;
  const sent = async (input: SendNotificationInput) => {
    const m = await send(input);
    return waitFor(async () => {
      const current = await message(m.id);
      return current.status === 'SENT' && current;
    });
  };
  const sentEmail = (to: string) =>
    sent({
      userId: `u-${to}`,
      type: 'adhoc',
      channels: ['EMAIL'],
      to: { email: to },
      content: { subject: 's', text: 't' },
    });
  const sentSms = (to: string) =>
    sent({ userId: `u-${to}`, type: 'adhoc', channels: ['SMS'], to: { phone: to }, content: { body: 'hi' } });
  const blocked = (address: string) => env.count('address_block where address = $1', [address]);
  const stored = () => env.count('provider_event');
  const sendgridEvent = (
    m: { id: string; providerMessageId?: string | null },
    event: string,
    extra: Record<string, unknown> = {},
  ) => ({
    event,
    timestamp: Math.floor(Date.now() / 1000),
    sg_event_id: `${event}-${m.id}`,
    sg_message_id: `${m.providerMessageId}.filter0001`,
    herald_message_id: m.id,
    ...extra,
  });

  it('Twilio: signed with TWILIO_AUTH_TOKEN is applied; signed with the sandbox token is 403 and not stored', async () => {
    const m = await sentSms('+14155550143');
    const params = { MessageSid: m.providerMessageId!, MessageStatus: 'delivered', To: m.to };
    const path = `/webhooks/twilio/status?hm=${m.id}`;
    const before = await stored();
    expect((await sandboxSigner.twilio(path, params)).status).toBe(403);
    const stop = await sandboxSigner.twilio('/webhooks/twilio/inbound', {
      MessageSid: 'SM00000000000000000000000000000003',
      From: '+14155550143',
      To: '+15005550006',
      Body: 'STOP',
    });
    expect(stop.status).toBe(403);
    expect(await stored()).toBe(before);
    expect(await blocked('+14155550143')).toBe(0);

    expect((await signer.twilio(path, params)).status).toBe(204);
    expect((await message(m.id)).status).toBe('DELIVERED');
  });

  it('SendGrid: signed with the configured key is applied; signed with the sandbox key is 403 and not stored', async () => {
    const m = await sentEmail('reader@example.com');
    const events = [sendgridEvent(m, 'delivered', { email: m.to })];
    const before = await stored();
    expect((await signer.sendgrid(events, { key: sandboxSendgridKey })).status).toBe(403);
    expect(await stored()).toBe(before);
    expect((await signer.sendgrid(events)).status).toBe(200);
    expect((await message(m.id)).status).toBe('DELIVERED');
  });

  it("a bounce, spam report or unsubscribe blocks the address of the message it names, never the body's email", async () => {
    const victim = 'victim@example.com';
    for (const [type, extra] of [
      ['bounce', { type: 'bounce', status: '5.1.1', reason: 'no such user' }],
      ['spamreport', {}],
      ['unsubscribe', {}],
      ['dropped', { reason: 'Bounced Address' }],
    ] as const) {
      const m = await sentEmail(`${type}-recipient@example.com`);
      expect((await signer.sendgrid([sendgridEvent(m, type, { email: victim, ...extra })])).status).toBe(200);
      expect(await blocked(m.to)).toBe(1);
      expect(await blocked(victim)).toBe(0);
    }
    // The victim still receives mail, of every tenant.
    const later = await sentEmail(victim);
    expect(later.status).toBe('SENT');
  });

  it('an event naming no message Herald knows is stored and blocks nothing', async () => {
    const before = await stored();
    const events = [
      {
        email: 'stranger@example.com',
        event: 'bounce',
        timestamp: Math.floor(Date.now() / 1000),
        sg_event_id: 'unknown-message-bounce',
        sg_message_id: 'neverSent.filter0001',
      },
    ];
    expect((await signer.sendgrid(events)).status).toBe(200);
    expect(await stored()).toBe(before + 1);
    expect(await blocked('stranger@example.com')).toBe(0);
  });

  it("Twilio 21610 opts out the message's own number, not the callback's To", async () => {
    const m = await sentSms('+14155550144');
    const victim = '+14155550199';
    await consentingUser(env.stack.url, token, 'u-victim', victim);
    const params = {
      MessageSid: m.providerMessageId!,
      MessageStatus: 'failed',
      ErrorCode: '21610',
      To: victim,
    };
    expect((await signer.twilio(`/webhooks/twilio/status?hm=${m.id}`, params)).status).toBe(204);
    expect(await blocked('+14155550144')).toBe(1);
    expect(await blocked(victim)).toBe(0);
    const check = await executeOk(
      env.stack.url,
      CheckConsentDocument,
      { userId: 'u-victim', channel: 'SMS', type: 'promo' },
      token,
    );
    expect(check.checkConsent.canSend).toBe(true);
  });

  it('SendGrid signatures older than 72 hours or more than 5 minutes ahead are 403 and not stored', async () => {
    const m = await sentEmail('window@example.com');
    const now = Math.floor(Date.now() / 1000);
    const before = await stored();
    for (const at of [now - 73 * 3600, now - 5 * 365 * 24 * 3600, now + 600]) {
      const events = [
        sendgridEvent(m, 'delivered', { email: m.to, timestamp: at, sg_event_id: `late-${at}` }),
      ];
      expect((await signer.sendgrid(events, { timestamp: String(at) })).status).toBe(403);
    }
    expect((await signer.sendgrid([sendgridEvent(m, 'open')], { timestamp: 'yesterday' })).status).toBe(403);
    expect(await stored()).toBe(before);
    expect((await message(m.id)).status).toBe('SENT');

    // A retry from SendGrid's own 24-hour schedule is still inside the window.
    const retried = String(now - 23 * 3600);
    const events = [sendgridEvent(m, 'delivered', { email: m.to })];
    expect((await signer.sendgrid(events, { timestamp: retried })).status).toBe(200);
    expect(await stored()).toBe(before + 1);
    expect((await message(m.id)).status).toBe('DELIVERED');
  });
});
