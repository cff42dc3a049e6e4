import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX } from '../../src/config/sandbox';
import { checkAccount, type TenantAccount } from '../../src/providers/account-check';
import { startEmulatorServer, type RunningEmulator } from '../../src/providers/emulator/emulator-server';
import { buildTenantAdapter } from '../../src/providers/tenant-adapter';

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

  it('mounted under /sandbox as on the API server, and behind a proxy passing X-Forwarded-Host, signatures verify', async () => {
    const key = awsKey();
    running.emulator.addAccount({ aws: key });
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
        const at = { sesApiUrl: `${base}/sandbox/ses`, snsApiUrl: `${base}/sandbox/sns`, timeoutMs: 5_000 };
        expect(await checkAccount(ses(key), at), base).toMatchObject({ ok: true });
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
