import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX } from '../../src/config/sandbox';
import { checkAccount, type TenantAccount } from '../../src/providers/account-check';
import { startEmulatorServer, type RunningEmulator } from '../../src/sandbox/emulator-server';
import { FCM_SCOPE } from '../../src/providers/fcm-token-credential';
import { buildTenantAdapter } from '../../src/providers/tenant-adapter';
import { adminOf, requireAdmin } from '../../src/server/require-admin';

const rsaKey = () =>
  generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
const awsKey = () => ({
  accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
  secretAccessKey: randomBytes(30).toString('base64'),
});

/**
 * Tenants' own AWS and Firebase accounts in the emulator (break round 13b, F2): registered through
 * `POST /__emulator/accounts`, SES and SNS verify each request's SigV4 signature with the registered secret, the FCM
 * token endpoint takes the service account's signed JWT assertion, and validation (account-check.ts) asks the
 * emulator through the real SDKs.
 */
describe('tenant AWS and FCM accounts in the emulator', () => {
  let running: RunningEmulator;
  const ctx = { messageId: 'm-1', tenantId: 'tenant-a', attempt: 1 };
  const post = async (body: unknown) => {
    const response = await fetch(`${running.url}/__emulator/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const endpoints = () => ({
    fcmApiUrl: `${running.url}/fcm`,
    sesApiUrl: `${running.url}/ses`,
    snsApiUrl: `${running.url}/sns`,
    timeoutMs: 5_000,
  });
  const adapter = (account: TenantAccount) =>
    buildTenantAdapter(account, { configId: 'c-1', publicUrl: 'http://herald.test', ...endpoints() });
  const ses = (key: ReturnType<typeof awsKey>): TenantAccount => ({
    provider: 'ses',
    senders: { fromEmail: 'news@tenant.example' },
    identifiers: { accessKeyId: key.accessKeyId, region: 'eu-west-1' },
    secrets: { secretAccessKey: key.secretAccessKey },
  });
  const sns = (key: ReturnType<typeof awsKey>): TenantAccount => ({
    ...ses(key),
    provider: 'sns',
    senders: {},
  });
  const fcm = (projectId: string, clientEmail: string, privateKey: string): TenantAccount => ({
    provider: 'fcm',
    senders: { projectId },
    identifiers: { clientEmail },
    secrets: { privateKey },
  });

  beforeAll(async () => {
    running = await startEmulatorServer({});
  });
  afterAll(async () => {
    await running?.close();
  });

  it('a registered AWS key validates (SES GetAccount, SNS GetSMSAttributes) and sends, signed with its own secret', async () => {
    const key = awsKey();
    expect(await post({ aws: key })).toMatchObject({ status: 201 });
    expect(await checkAccount(ses(key), endpoints())).toMatchObject({ ok: true, error: null });
    expect(await checkAccount(sns(key), endpoints())).toMatchObject({ ok: true, error: null });

    const mail = adapter(ses(key));
    const text = adapter(sns(key));
    try {
      await mail.send({ to: 'someone@example.com', subject: 'hi', text: 'hi' }, ctx);
      await text.send({ to: '+14155552671', body: 'hi' }, ctx);
    } finally {
      await mail.close?.();
      await text.close?.();
    }
    for (const vendor of ['ses', 'sns'] as const) {
      const [recorded] = running.emulator.recorded(vendor).slice(-1);
      expect(recorded.status, vendor).toBe(200);
      expect(recorded.headers.authorization, vendor).toContain(`Credential=${key.accessKeyId}/`);
      expect(JSON.stringify(recorded), vendor).not.toContain(key.secretAccessKey);
    }
  });

  it('an unknown key or a wrong secret is refused as AWS refuses it: validation ok false with the vendor’s words', async () => {
    const unknown = awsKey();
    expect(await checkAccount(ses(unknown), endpoints())).toMatchObject({
      ok: false,
      error: expect.stringContaining('UnrecognizedClientException') as string,
    });
    expect(await checkAccount(sns(unknown), endpoints())).toMatchObject({
      ok: false,
      error: expect.stringContaining('InvalidClientTokenId') as string,
    });
    const key = awsKey();
    expect(await post({ aws: key })).toMatchObject({ status: 201 });
    const wrongSecret = { ...key, secretAccessKey: 'not-the-registered-secret' };
    for (const account of [ses(wrongSecret), sns(wrongSecret)])
      expect(await checkAccount(account, endpoints())).toMatchObject({
        ok: false,
        error: expect.stringContaining('SignatureDoesNotMatch') as string,
      });
    const mail = adapter(ses(wrongSecret));
    await expect(
      mail.send({ to: 'someone@example.com', subject: 'hi', text: 'hi' }, ctx),
    ).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    await mail.close?.();
  });

  it('a registered Firebase service account gets its token from the emulator and sends for its own project only', async () => {
    const privateKey = rsaKey();
    const account = {
      projectId: 'tenant-proj-1',
      clientEmail: 'sender@tenant-proj-1.iam.gserviceaccount.com',
    };
    expect(await post({ fcm: { ...account, privateKey } })).toMatchObject({ status: 201 });
    const issuedBefore = running.emulator.fcmTokensIssued;
    expect(
      await checkAccount(fcm(account.projectId, account.clientEmail, privateKey), endpoints()),
    ).toMatchObject({
      ok: true,
      error: null,
    });
    const push = adapter(fcm(account.projectId, account.clientEmail, privateKey));
    try {
      const sent = await push.send({ target: { token: 'device-1' }, title: 'hi' }, ctx);
      expect(sent.providerMessageId).toMatch(/^projects\/tenant-proj-1\/messages\//);
    } finally {
      await push.close?.();
    }
    expect(running.emulator.fcmTokensIssued).toBeGreaterThan(issuedBefore);
    const sends = running.emulator.recorded('fcm').filter((r) => r.path.includes('/projects/tenant-proj-1/'));
    expect(sends.map((r) => r.status)).toEqual([200, 200]);
    // The validation was a dry run, the send a real one.
    expect(sends.map((r) => (r.body as { validate_only?: boolean }).validate_only)).toEqual([
      true,
      undefined,
    ]);

    // Its token does not send for another project (as at Google: 403, SENDER_ID_MISMATCH).
    const other = adapter(fcm('tenant-proj-2', account.clientEmail, privateKey));
    await expect(other.send({ target: { token: 'device-1' }, title: 'hi' }, ctx)).rejects.toMatchObject({
      code: 'SENDER_ID_MISMATCH',
      retryable: false,
    });
    await other.close?.();
  });

  it('an unregistered service account or another key is refused at the token endpoint: ok false', async () => {
    const unregistered = await checkAccount(
      fcm('nobody-proj', 'nobody@nobody-proj.iam.gserviceaccount.com', rsaKey()),
      endpoints(),
    );
    expect(unregistered).toMatchObject({ ok: false, checkedWith: 'fcm OAuth token (the emulator)' });
    expect(unregistered.error).toContain('invalid_grant');
    const account = {
      projectId: 'tenant-proj-3',
      clientEmail: 'sender@tenant-proj-3.iam.gserviceaccount.com',
    };
    expect(await post({ fcm: { ...account, privateKey: rsaKey() } })).toMatchObject({ status: 201 });
    const otherKey = await checkAccount(fcm(account.projectId, account.clientEmail, rsaKey()), endpoints());
    expect(otherKey).toMatchObject({ ok: false });
    expect(otherKey.error).toContain('Invalid JWT Signature');
  });

  it('registrations: bad fields answer 400 naming them; another’s key or the primary accounts 409', async () => {
    expect(await post({ aws: { accessKeyId: 'AKIA1' } })).toEqual({
      status: 400,
      body: { error: 'aws.secretAccessKey: expected a non-empty string' },
    });
    expect(
      await post({ fcm: { projectId: 'p-123456', clientEmail: 'a@b.example', privateKey: 'garbage' } }),
    ).toEqual({ status: 400, body: { error: 'fcm.privateKey: expected a PEM RSA private key' } });
    expect(await post({ fcm: { projectId: 'p-123456', privateKey: rsaKey() } })).toEqual({
      status: 400,
      body: { error: 'fcm.clientEmail: expected a non-empty string' },
    });
    const key = awsKey();
    expect((await post({ aws: key })).status).toBe(201);
    expect((await post({ aws: key })).status).toBe(201);
    expect(await post({ aws: { ...key, secretAccessKey: 'mallory' } })).toEqual({
      status: 409,
      body: {
        error: `aws.secretAccessKey: access key ${key.accessKeyId} is registered with another secret; register it with its own`,
      },
    });
    // The owner's key still works.
    expect(await checkAccount(ses(key), endpoints())).toMatchObject({ ok: true });
    expect((await post({ aws: { accessKeyId: SANDBOX.aws.accessKeyId, secretAccessKey: 'x' } })).status).toBe(
      409,
    );
    const fcmAccount = {
      projectId: 'tenant-proj-4',
      clientEmail: 'sender@tenant-proj-4.iam.gserviceaccount.com',
    };
    expect((await post({ fcm: { ...fcmAccount, privateKey: rsaKey() } })).status).toBe(201);
    expect((await post({ fcm: { ...fcmAccount, privateKey: rsaKey() } })).status).toBe(409);
    expect(
      (
        await post({
          fcm: { projectId: SANDBOX.fcm.projectId, clientEmail: 'x@y.example', privateKey: rsaKey() },
        })
      ).status,
    ).toBe(409);
  });

  it('the token endpoint refuses assertions Google refuses: over an hour, too old or early, another audience, no scope', async () => {
    const privateKey = rsaKey();
    const account = {
      projectId: 'tenant-proj-5',
      clientEmail: 'sender@tenant-proj-5.iam.gserviceaccount.com',
    };
    expect(await post({ fcm: { ...account, privateKey } })).toMatchObject({ status: 201 });
    const now = Math.floor(Date.now() / 1000);
    const tokenUri = `${running.url}/fcm/token`;
    const assertion = (claims: JWTPayload) => {
      const { iat = now, exp = now + 3600, ...rest } = claims;
      return new SignJWT(rest)
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
        .setIssuer(account.clientEmail)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(createPrivateKey(privateKey));
    };
    const ask = async (claims: JWTPayload) => {
      const response = await fetch(tokenUri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
          assertion: await assertion(claims),
        }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const good = { aud: tokenUri, scope: FCM_SCOPE };
    expect(await ask(good)).toMatchObject({ status: 200, body: { token_type: 'Bearer' } });

    const timeframe = {
      status: 400,
      body: {
        error: 'invalid_grant',
        error_description: expect.stringContaining('short-lived token') as string,
      },
    };
    const cases: [string, JWTPayload][] = [
      ['exp ten days after iat', { ...good, exp: now + 10 * 86_400 }],
      ['exp an hour and a second after iat', { ...good, exp: now + 3601 }],
      ['iat two days ago', { ...good, iat: now - 2 * 86_400, exp: now + 3600 }],
      ['iat an hour ahead', { ...good, iat: now + 3600, exp: now + 7200 }],
      ['exp past', { ...good, iat: now - 3600, exp: now - 600 }],
    ];
    for (const [what, claims] of cases) expect(await ask(claims), what).toEqual(timeframe);
    const audience = {
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Invalid JWT: Failed audience check.' },
    };
    expect(await ask({ ...good, aud: 'https://evil.example' })).toEqual(audience);
    // Google's own token URI is not this endpoint's.
    expect(await ask({ ...good, aud: 'https://oauth2.googleapis.com/token' })).toEqual(audience);
    expect(await ask({ scope: FCM_SCOPE })).toEqual(audience);
    expect(await ask({ aud: tokenUri })).toEqual({
      status: 400,
      body: { error: 'invalid_scope', error_description: 'Empty or missing scope not allowed.' },
    });
  });

  it('the published sandbox FCM token sends for the service-wide sandbox project only, not for a tenant’s', async () => {
    const account = {
      projectId: 'tenant-proj-6',
      clientEmail: 'sender@tenant-proj-6.iam.gserviceaccount.com',
    };
    expect(await post({ fcm: { ...account, privateKey: rsaKey() } })).toMatchObject({ status: 201 });
    const send = (projectId: string) =>
      fetch(`${running.url}/fcm/v1/projects/${projectId}/messages:send`, {
        method: 'POST',
        headers: { authorization: `Bearer ${SANDBOX.fcm.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message: { token: 'device-1', notification: { title: 'hi' } } }),
      });
    expect((await send(SANDBOX.fcm.projectId)).status).toBe(200);
    for (const projectId of [account.projectId, 'never-registered-proj']) {
      const refused = await send(projectId);
      expect(refused.status, projectId).toBe(403);
      expect(JSON.stringify(await refused.json()), projectId).toContain('SENDER_ID_MISMATCH');
    }
  });

  it('a Firebase project is its first registrant’s: another tenant’s service account on it answers 409, the owner adds one', async () => {
    // As on the API server: the admin guard lets the caller through and the control API names its tenant.
    const app = express();
    app.use(
      '/__emulator',
      requireAdmin((authorization) =>
        Promise.resolve({
          tenantId: String(authorization).replace('Bearer ', ''),
          subject: 'ops',
          scopes: ['admin'],
        }),
      ),
      running.emulator.controlRouter({ registrantOf: (_req, res) => adminOf(res)?.tenantId }),
    );
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const register = async (tenant: string, clientEmail: string, privateKey = rsaKey()) => {
      const response = await fetch(`${base}/__emulator/accounts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tenant}` },
        body: JSON.stringify({ fcm: { projectId: 'tenant-a-proj', clientEmail, privateKey } }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    try {
      const first = 'sender@tenant-a-proj.iam.gserviceaccount.com';
      const firstKey = rsaKey();
      expect(await register('tenant-a', first, firstKey)).toMatchObject({ status: 201 });
      const taker = rsaKey();
      expect(await register('tenant-b', 'evil@tenant-b-proj.iam.gserviceaccount.com', taker)).toEqual({
        status: 409,
        body: {
          error:
            'fcm.projectId: project tenant-a-proj is registered by another owner; register service accounts on your own project',
        },
      });
      // Not even the owner's own service account, key and all.
      expect((await register('tenant-b', first, firstKey)).status).toBe(409);
      // So the other tenant cannot get a token for the project.
      expect(
        await checkAccount(
          fcm('tenant-a-proj', 'evil@tenant-b-proj.iam.gserviceaccount.com', taker),
          endpoints(),
        ),
      ).toMatchObject({ ok: false });
      // The owner adds a second service account, and both validate.
      const secondKey = rsaKey();
      const second = 'second@tenant-a-proj.iam.gserviceaccount.com';
      expect(await register('tenant-a', second, secondKey)).toMatchObject({ status: 201 });
      expect(await checkAccount(fcm('tenant-a-proj', first, firstKey), endpoints())).toMatchObject({
        ok: true,
      });
      expect(await checkAccount(fcm('tenant-a-proj', second, secondKey), endpoints())).toMatchObject({
        ok: true,
      });
    } finally {
      server.close();
    }
  });

  it('mounted under /sandbox as on the API server, and behind a proxy passing X-Forwarded-Host, signatures and FCM audiences verify', async () => {
    const key = awsKey();
    running.emulator.addAccount({ aws: key });
    const fcmKey = rsaKey();
    const fcmAccount = fcm('tenant-proj-7', 'sender@tenant-proj-7.iam.gserviceaccount.com', fcmKey);
    running.emulator.addAccount({
      fcm: {
        projectId: 'tenant-proj-7',
        clientEmail: 'sender@tenant-proj-7.iam.gserviceaccount.com',
        privateKey: fcmKey,
      },
    });
    const app = express();
    app.use('/sandbox', running.emulator.vendorRouter());
    // A reverse proxy: forwards to the app with its own Host, passing the signed one as X-Forwarded-Host.
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const appPort = (server.address() as AddressInfo).port;
    const proxy = createServer((req, res) => {
      const forwarded = httpRequest(
        {
          host: '127.0.0.1',
          port: appPort,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: `internal:${appPort}`, 'x-forwarded-host': req.headers.host },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(forwarded);
    });
    proxy.listen(0, '127.0.0.1');
    await new Promise((resolve) => proxy.once('listening', resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const appUrl = `http://127.0.0.1:${appPort}`;
    try {
      for (const base of [appUrl, proxyUrl]) {
        const at = {
          sesApiUrl: `${base}/sandbox/ses`,
          snsApiUrl: `${base}/sandbox/sns`,
          fcmApiUrl: `${base}/sandbox/fcm`,
          timeoutMs: 5_000,
        };
        expect(await checkAccount(ses(key), at), base).toMatchObject({ ok: true });
        // The assertion's audience is the token URI as the client reached it (${base}/sandbox/fcm/token).
        expect(await checkAccount(fcmAccount, at), base).toMatchObject({ ok: true });
        expect(await checkAccount(sns(key), at), base).toMatchObject({ ok: true });
        const mail = buildTenantAdapter(ses(key), { configId: 'c', publicUrl: base, ...at });
        await mail.send({ to: 'someone@example.com', subject: 'hi', text: 'hi' }, ctx);
        await mail.close?.();
      }
    } finally {
      proxy.close();
      server.close();
    }
  });
});
