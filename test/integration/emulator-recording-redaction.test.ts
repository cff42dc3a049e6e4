import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX } from '../../src/config/sandbox';
import { FcmProvider } from '../../src/providers/fcm.provider';
import { SendgridProvider } from '../../src/providers/sendgrid.provider';
import { SesProvider } from '../../src/providers/ses.provider';
import { SnsProvider } from '../../src/providers/sns.provider';
import { TwilioSmsProvider } from '../../src/providers/twilio.provider';
import { startStack, type TestStack } from '../support/stack';

const SECRET = 'recording-redaction-secret-long-enough!';
/** A tenant's own emulated accounts, registered through the sandbox's control API as its README says. */
const TENANT = {
  accountSid: `AC${'c'.repeat(32)}`,
  authToken: `tenant-twilio-token-${randomBytes(8).toString('hex')}`,
  /** The tenant account's own number: the emulator refuses a From the account does not own (21606). */
  number: '+14155550131',
  apiKey: `SG.tenant-key-id.${randomBytes(16).toString('hex')}`,
};

/**
 * Herald's own sandbox (auth on): the real vendor SDKs send through the emulator mounted at /sandbox with the
 * sandbox's and a tenant's credentials, and what admins read back (GET /sandbox/messages and
 * /sandbox/__emulator/requests) names each account but holds no auth token, API key secret, access token or
 * signature.
 */
describe('sandbox recordings read by admins hold no credential', () => {
  let stack: TestStack;
  let base: string;
  let admin: string;

  beforeAll(async () => {
    stack = await startStack({ extraEnv: { JWT_SECRET: SECRET } });
    base = stack.url.replace(/\/graphql$/, '');
    admin = await new SignJWT({ tenant: 'acme', scope: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('ops')
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(SECRET));
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('Twilio (sandbox and a tenant account), SendGrid (both), FCM, SES and SNS through their SDKs', async () => {
    const registered = await fetch(`${base}/sandbox/__emulator/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
      body: JSON.stringify({
        twilio: {
          accountSid: TENANT.accountSid,
          authToken: TENANT.authToken,
          numbers: [{ number: TENANT.number }],
        },
        sendgrid: { apiKey: TENANT.apiKey },
      }),
    });
    expect(registered.status).toBe(201);

    const ctx = { messageId: '6f1c2c1e-7d0b-4f7e-9d55-3f0b8c1d2e3f', tenantId: 'acme', attempt: 1 };
    const twilio = (accountSid: string, authToken: string, from: string) =>
      new TwilioSmsProvider({
        mode: 'sandbox',
        ...SANDBOX.twilio,
        accountSid,
        authToken,
        from,
        apiUrl: `${base}/sandbox/twilio`,
        statusCallbackUrl: `${base}/webhooks/twilio/status`,
        timeoutMs: 10_000,
      });
    const sendgrid = (apiKey: string) =>
      new SendgridProvider({
        mode: 'sandbox',
        apiKey,
        from: 'noreply@herald.dev',
        apiUrl: `${base}/sandbox/sendgrid`,
        timeoutMs: 10_000,
      });
    const fcm = new FcmProvider({
      mode: 'sandbox',
      projectId: SANDBOX.fcm.projectId,
      accessToken: SANDBOX.fcm.accessToken,
      apiUrl: `${base}/sandbox/fcm`,
    });
    const aws = { mode: 'sandbox' as const, region: 'eu-west-1', ...SANDBOX.aws, timeoutMs: 10_000 };
    const ses = new SesProvider({ ...aws, from: 'noreply@herald.dev', apiUrl: `${base}/sandbox/ses` });
    const sns = new SnsProvider({ ...aws, apiUrl: `${base}/sandbox/sns` });
    try {
      const sms = { to: '+14155552671', body: 'hello' };
      await twilio(SANDBOX.twilio.accountSid, SANDBOX.twilio.authToken, SANDBOX.twilio.from).send(sms, ctx);
      await twilio(TENANT.accountSid, TENANT.authToken, TENANT.number).send(sms, ctx);
      const email = { to: 'ada@example.com', subject: 'Hi', text: 'hello' };
      await sendgrid(SANDBOX.sendgrid.apiKey).send(email, ctx);
      await sendgrid(TENANT.apiKey).send(email, ctx);
      await fcm.send({ target: { token: 'device-token-1' }, title: 'T', body: 'B' }, ctx);
      await ses.send(email, ctx);
      await sns.send(sms, ctx);
    } finally {
      await fcm.close();
      await ses.close();
      await sns.close();
    }
    // A credential-named field in a body, as a client might send one, is recorded as ***.
    const raw = await fetch(`${base}/sandbox/twilio/2010-04-01/Accounts/${TENANT.accountSid}/Messages.json`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${TENANT.accountSid}:${TENANT.authToken}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        To: '+14155552671',
        From: TENANT.number,
        Body: 'raw',
        AuthToken: TENANT.authToken,
      }).toString(),
    });
    expect(raw.status).toBe(201);

    const secrets = [
      SANDBOX.twilio.authToken,
      TENANT.authToken,
      SANDBOX.sendgrid.apiKey,
      TENANT.apiKey,
      TENANT.apiKey.split('.')[2],
      SANDBOX.fcm.accessToken,
      SANDBOX.aws.secretAccessKey,
      ...[SANDBOX.twilio, TENANT].map((t) =>
        Buffer.from(`${t.accountSid}:${t.authToken}`).toString('base64'),
      ),
    ];
    for (const path of ['/sandbox/messages', '/sandbox/__emulator/requests']) {
      const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${admin}` } });
      expect(response.status, path).toBe(200);
      const text = await response.text();
      for (const secret of secrets) expect(text, path).not.toContain(secret);
      expect(text, path).not.toMatch(/Signature=[0-9a-f]{16,}/);
      const recorded = JSON.parse(text) as {
        vendor: string;
        headers: Record<string, string>;
        body: Record<string, unknown>;
      }[];
      const authorizations = (vendor: string) =>
        recorded.filter((r) => r.vendor === vendor).map((r) => r.headers.authorization);
      // Each account is still named: Twilio's SID, SendGrid's key id, AWS's access key id and scope.
      expect(authorizations('twilio'), path).toEqual([
        `Basic ${SANDBOX.twilio.accountSid}:***`,
        `Basic ${TENANT.accountSid}:***`,
        `Basic ${TENANT.accountSid}:***`,
      ]);
      expect(authorizations('sendgrid'), path).toEqual([
        'Bearer SG.herald-sandbox.***',
        'Bearer SG.tenant-key-id.***',
      ]);
      expect(authorizations('fcm'), path).toEqual(['Bearer ***']);
      for (const vendor of ['ses', 'sns']) {
        const [header] = authorizations(vendor);
        expect(header, path).toMatch(
          new RegExp(`^AWS4-HMAC-SHA256 Credential=${SANDBOX.aws.accessKeyId}/\\d{8}/eu-west-1/${vendor}/`),
        );
        expect(header, path).toMatch(/Signature=\*\*\*$/);
      }
      expect(recorded.find((r) => r.body.Body === 'raw')?.body.AuthToken, path).toBe('***');
    }
  });
});
