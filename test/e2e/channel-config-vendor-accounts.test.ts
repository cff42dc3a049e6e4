import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

/**
 * Break round 13b, F2: a tenant's own SES, SNS and FCM configs are checked with the vendor (the emulator, which knows
 * only the accounts registered with it) and send through it with the tenant's own key id or project; an unregistered
 * one validates `ok: false` and is stored inactive. A tenant FCM config's OAuth token comes from the emulator.
 */
const SECRET = 'channel-config-vendor-accounts-secret!!';
const TENANT = 'vendor-acct';
const awsKey = () => ({
  accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
  secretAccessKey: randomBytes(30).toString('base64'),
});
const SES_KEY = awsKey();
const SNS_KEY = awsKey();
const UNREGISTERED_KEY = awsKey();
const FCM = {
  projectId: 'tenant-push-proj',
  clientEmail: 'herald@tenant-push-proj.iam.gserviceaccount.com',
  privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString(),
};
const UNREGISTERED_FCM = {
  ...FCM,
  projectId: 'nobody-push-proj',
  clientEmail: 'herald@nobody-push-proj.iam.gserviceaccount.com',
};
const SECRETS = [SES_KEY.secretAccessKey, SNS_KEY.secretAccessKey, UNREGISTERED_KEY.secretAccessKey];

const FIELDS = 'id active validation { ok error } credentials { secretAccessKey privateKey }';
interface View {
  id: string;
  active: boolean;
  validation: { ok: boolean | null; error: string | null };
  credentials: Record<string, string | null>;
}

describe('tenant SES, SNS and FCM configs in the sandbox (break round 13b, F2)', () => {
  let stack: TestStack;
  let db: pg.Client;
  let bearer: string;

  const gql = <T>(query: string, variables: Record<string, unknown> = {}) =>
    execute<T, Record<string, unknown>>(stack.url, query, variables, bearer);
  const create = async (input: Record<string, unknown>): Promise<View> => {
    const result = await gql<{ createChannelConfig: View }>(
      `mutation ($input: CreateChannelConfigInput!) { createChannelConfig(input: $input) { ${FIELDS} } }`,
      { input },
    );
    expect(result.errors).toBeUndefined();
    for (const secret of SECRETS) expect(JSON.stringify(result)).not.toContain(secret);
    return result.data!.createChannelConfig;
  };
  const aws = (name: string, provider: 'ses' | 'sns', key: typeof SES_KEY) => ({
    name,
    channel: provider === 'ses' ? 'EMAIL' : 'SMS',
    provider,
    ...(provider === 'ses' ? { senders: { fromEmail: 'news@vendor-acct.example' } } : {}),
    identifiers: { accessKeyId: key.accessKeyId, region: 'eu-west-1' },
    credentials: { secretAccessKey: key.secretAccessKey },
  });
  const fcm = (name: string, account: typeof FCM) => ({
    name,
    channel: 'PUSH',
    provider: 'fcm',
    senders: { projectId: account.projectId },
    identifiers: { clientEmail: account.clientEmail },
    credentials: { privateKey: account.privateKey },
  });

  /** Sends one message on `channel`; answers its row once SENT or FAILED. */
  const sendAndSettle = async (channel: string) => {
    const result = await gql<{ sendNotification: { notification: { messages: { id: string }[] } } }>(
      `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { messages { id } } } }`,
      {
        input: {
          userId: `u-${randomUUID()}`,
          type: 'adhoc',
          channels: [channel],
          to: { phone: '+14155552671', email: 'someone@example.com', deviceTokens: ['device-token-1'] },
          content: { subject: 'hello', text: 'hello', body: 'hello', title: 'hello' },
        },
      },
    );
    expect(result.errors).toBeUndefined();
    const [{ id }] = result.data!.sendNotification.notification.messages;
    return waitFor(
      async () => {
        const { rows } = await db.query<{
          status: string;
          channel_config_id: string | null;
          error_code: string;
        }>(`select status, channel_config_id, error_code from message where id = $1`, [id]);
        return rows[0] && ['SENT', 'DELIVERED', 'FAILED'].includes(rows[0].status) ? rows[0] : undefined;
      },
      30_000,
      `message ${id} settled`,
    );
  };

  beforeAll(async () => {
    stack = await startStack({
      extraEnv: {
        JWT_SECRET: SECRET,
        CONFIG_ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}`,
        CHANNEL_CONFIG_ROUTES_TTL_MS: '0',
        DISPATCH_MAX_ATTEMPTS: '2',
      },
    });
    const emulator = stack.emulator.emulator;
    emulator.addAccount({ aws: SES_KEY });
    emulator.addAccount({ aws: SNS_KEY });
    emulator.addAccount({ fcm: FCM });
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
    bearer = await new SignJWT({ tenant: TENANT, scope: 'admin communication:send communication:read' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(`${TENANT}-admin`)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(SECRET));
    // Only the tenant's own accounts: a send that cannot go through them fails instead of using the shared ones.
    const off = await gql(
      `mutation { updateTenantSettings(input: { useSharedProviders: false }) { useSharedProviders } }`,
    );
    expect(off.errors).toBeUndefined();
  });

  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  it('registered SES and SNS keys validate with the vendor and send with the tenant’s own key id', async () => {
    const ses = await create(aws('own-ses', 'ses', SES_KEY));
    const sns = await create(aws('own-sns', 'sns', SNS_KEY));
    for (const view of [ses, sns]) {
      expect(view).toMatchObject({ active: true, validation: { ok: true, error: null } });
      expect(view.credentials.secretAccessKey).toBe('***');
    }
    const email = await sendAndSettle('EMAIL');
    expect(email).toMatchObject({ channel_config_id: ses.id });
    expect(email.status).not.toBe('FAILED');
    const sms = await sendAndSettle('SMS');
    expect(sms).toMatchObject({ channel_config_id: sns.id });
    expect(sms.status).not.toBe('FAILED');
    const [sent] = stack.emulator.emulator.recorded('ses').slice(-1);
    expect(sent.headers.authorization).toContain(`Credential=${SES_KEY.accessKeyId}/`);
    const [published] = stack.emulator.emulator.recorded('sns').slice(-1);
    expect(published.headers.authorization).toContain(`Credential=${SNS_KEY.accessKeyId}/`);
  });

  it('a registered FCM service account validates and sends for its project, its token from the emulator', async () => {
    const issued = stack.emulator.emulator.fcmTokensIssued;
    const view = await create(fcm('own-fcm', FCM));
    expect(view).toMatchObject({ active: true, validation: { ok: true, error: null } });
    expect(view.credentials.privateKey).toBe('***');
    const push = await sendAndSettle('PUSH');
    expect(push).toMatchObject({ channel_config_id: view.id });
    expect(push.status).not.toBe('FAILED');
    const sends = stack.emulator.emulator
      .recorded('fcm')
      .filter((r) => r.path.includes(`/projects/${FCM.projectId}/messages:send`));
    // The validation's dry run, then the message.
    expect(sends.map((r) => r.status)).toEqual([200, 200]);
    // No other way to a token: sandbox mode has no Google credentials, and the send went out with one.
    expect(stack.emulator.emulator.fcmTokensIssued).toBeGreaterThan(issued);
  });

  it('unregistered SES, SNS and FCM accounts validate ok: false with the vendor’s words and are stored inactive', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [aws('nobody-ses', 'ses', UNREGISTERED_KEY), 'UnrecognizedClientException'],
      [aws('nobody-sns', 'sns', UNREGISTERED_KEY), 'InvalidClientTokenId'],
      [
        aws('wrong-secret-ses', 'ses', { ...SES_KEY, secretAccessKey: 'not-the-secret' }),
        'SignatureDoesNotMatch',
      ],
      [fcm('nobody-fcm', UNREGISTERED_FCM), 'invalid_grant'],
    ];
    for (const [input, says] of cases) {
      const view = await create(input);
      expect(view, says).toMatchObject({ active: false, validation: { ok: false } });
      expect(view.validation.error, says).toContain(says);
    }
  });

  it('input the vendor cannot use answers BAD_USER_INPUT naming the field, never quoting a secret (F3)', async () => {
    const ecKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const cases: [Record<string, unknown>, string][] = [
      [
        {
          ...aws('stray-ses', 'ses', SES_KEY),
          credentials: { secretAccessKey: SES_KEY.secretAccessKey, authToken: 'STRAYSECRET' },
        },
        'input.credentials.authToken',
      ],
      [{ ...aws('short-key', 'ses', { ...SES_KEY, accessKeyId: 'x' }) }, 'input.identifiers.accessKeyId'],
      [{ ...fcm('ec-key', FCM), credentials: { privateKey: ecKey } }, 'input.credentials.privateKey'],
      [{ ...fcm('bad-proj', FCM), senders: { projectId: 'proj p/../x' } }, 'input.senders.projectId'],
      [
        { ...fcm('bad-email', FCM), identifiers: { clientEmail: 'not an email' } },
        'input.identifiers.clientEmail',
      ],
    ];
    for (const [input, field] of cases) {
      const result = await gql(
        `mutation ($input: CreateChannelConfigInput!) { createChannelConfig(input: $input) { id } }`,
        { input },
      );
      expect(result.errors?.[0]?.extensions, field).toMatchObject({ code: 'BAD_USER_INPUT', field });
      const text = JSON.stringify(result);
      for (const secret of [...SECRETS, 'STRAYSECRET', ecKey.split('\n')[1]])
        expect(text).not.toContain(secret);
      expect(text).not.toMatch(/routines|error:[0-9A-F]{8}/);
    }
  });
});
