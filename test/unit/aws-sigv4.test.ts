import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { describe, expect, it } from 'vitest';
import { sigv4Problem, type SignedRequest } from '../../src/sandbox/aws-sigv4';

/**
 * The emulator's SigV4 check (aws-sigv4.ts) against AWS's own worked example: the General Reference's IAM ListUsers
 * request signed with the documentation's example key
 * (https://docs.aws.amazon.com/general/latest/gr/sigv4-calculate-signature.html and the tasks before and after it),
 * then against requests the real AWS SDK v3 clients sign, captured before they leave.
 */
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const secretOf = (accessKeyId: string) => (accessKeyId === 'AKIDEXAMPLE' ? SECRET : undefined);
const authorization = (credential = 'AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request') =>
  `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=content-type;host;x-amz-date, ` +
  'Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7';
const listUsers = (): SignedRequest => ({
  method: 'GET',
  originalUrl: '/?Action=ListUsers&Version=2010-05-08',
  headers: {
    host: 'iam.amazonaws.com',
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
    'x-amz-date': '20150830T123600Z',
    authorization: authorization(),
  },
});
const withHeaders = (headers: Record<string, string | undefined>): SignedRequest => {
  const request = listUsers();
  return { ...request, headers: { ...request.headers, ...headers } };
};
const mismatch = { kind: 'signature', accessKeyId: 'AKIDEXAMPLE' };
/** When the example was signed: the check's clock, so the 15-minute window holds. */
const SIGNED_AT = new Date('2015-08-30T12:36:00Z');

describe("SigV4 check: AWS's published example", () => {
  it('refuses a signature more than 15 minutes from the clock either way: expired (a captured request replayed later)', async () => {
    const minutes = (n: number) => new Date(SIGNED_AT.getTime() + n * 60_000);
    expect(await sigv4Problem(listUsers(), secretOf, minutes(15))).toBeUndefined();
    expect(await sigv4Problem(listUsers(), secretOf, minutes(-15))).toBeUndefined();
    const expired = { kind: 'expired', accessKeyId: 'AKIDEXAMPLE' };
    expect(await sigv4Problem(listUsers(), secretOf, minutes(16))).toEqual(expired);
    expect(await sigv4Problem(listUsers(), secretOf, minutes(-16))).toEqual(expired);
    expect(await sigv4Problem(listUsers(), secretOf, minutes(3 * 24 * 60))).toEqual(expired);
    // An unknown key is still unknown, whatever the time.
    expect(await sigv4Problem(listUsers(), () => undefined, minutes(60))).toEqual({
      kind: 'unknown',
      accessKeyId: 'AKIDEXAMPLE',
    });
  });

  it('verifies as published', async () => {
    expect(await sigv4Problem(listUsers(), secretOf, SIGNED_AT)).toBeUndefined();
  });

  it.each<[string, SignedRequest]>([
    ['a body added', { ...listUsers(), rawBody: Buffer.from('UserName=root') }],
    ['another query', { ...listUsers(), originalUrl: '/?Action=DeleteUser&Version=2010-05-08' }],
    ['another path', { ...listUsers(), originalUrl: '/users?Action=ListUsers&Version=2010-05-08' }],
    ['another method', { ...listUsers(), method: 'POST' }],
    ['a signed header changed', withHeaders({ 'content-type': 'application/json' })],
    ['a signed header missing', withHeaders({ 'content-type': undefined })],
    ['another host', withHeaders({ host: 'sts.amazonaws.com' })],
    ['a second later', withHeaders({ 'x-amz-date': '20150830T123601Z' })],
    ['no X-Amz-Date', withHeaders({ 'x-amz-date': undefined })],
    ['a date that is no date', withHeaders({ 'x-amz-date': '20150830T126000Z' })],
    [
      'a scope of another day',
      withHeaders({ authorization: authorization('AKIDEXAMPLE/20150831/us-east-1/iam/aws4_request') }),
    ],
    [
      'another region',
      withHeaders({ authorization: authorization('AKIDEXAMPLE/20150830/eu-west-1/iam/aws4_request') }),
    ],
    [
      'another service',
      withHeaders({ authorization: authorization('AKIDEXAMPLE/20150830/us-east-1/sns/aws4_request') }),
    ],
  ])('refuses the signature with %s', async (_, request) => {
    expect(await sigv4Problem(request, secretOf, SIGNED_AT)).toEqual(mismatch);
  });

  it('refuses the signature when the key id knows another secret', async () => {
    expect(
      await sigv4Problem(listUsers(), () => 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ', SIGNED_AT),
    ).toEqual(mismatch);
  });

  it('answers unknown for a key id it does not know, and for a missing or malformed Authorization', async () => {
    const other = withHeaders({
      authorization: authorization('AKIDOTHER/20150830/us-east-1/iam/aws4_request'),
    });
    expect(await sigv4Problem(other, secretOf, SIGNED_AT)).toEqual({
      kind: 'unknown',
      accessKeyId: 'AKIDOTHER',
    });
    expect(await sigv4Problem(withHeaders({ authorization: undefined }), secretOf, SIGNED_AT)).toEqual({
      kind: 'unknown',
    });
    expect(await sigv4Problem(withHeaders({ authorization: 'Bearer token' }), secretOf, SIGNED_AT)).toEqual({
      kind: 'unknown',
    });
    const short = withHeaders({ authorization: authorization().slice(0, -1) });
    expect(await sigv4Problem(short, secretOf, SIGNED_AT)).toEqual({ kind: 'unknown' });
  });

  it('verifies with X-Forwarded-Host when a proxy rewrote Host', async () => {
    const proxied = withHeaders({ host: 'internal:8080', 'x-forwarded-host': 'iam.amazonaws.com, edge' });
    expect(await sigv4Problem(proxied, secretOf, SIGNED_AT)).toBeUndefined();
    expect(await sigv4Problem(withHeaders({ host: 'internal:8080' }), secretOf, SIGNED_AT)).toEqual(mismatch);
  });
});

/** The request an AWS SDK v3 client signs for `send`, as the emulator would receive it; never sent. */
async function signedBySdk<Client extends SESv2Client | SNSClient>(
  client: Client,
  send: (client: Client) => Promise<unknown>,
): Promise<SignedRequest> {
  let captured: SignedRequest | undefined;
  client.config.requestHandler = {
    handle: (request: {
      method: string;
      path: string;
      query?: Record<string, string>;
      headers: Record<string, string>;
      body?: string | Uint8Array;
    }) => {
      const query = new URLSearchParams(request.query ?? {}).toString();
      captured = {
        method: request.method,
        originalUrl: `${request.path}${query ? `?${query}` : ''}`,
        headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v])),
        rawBody:
          typeof request.body === 'string'
            ? Buffer.from(request.body)
            : request.body &&
              Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength),
      };
      return Promise.reject(new Error('captured, not sent'));
    },
  };
  await expect(send(client)).rejects.toThrow('captured, not sent');
  return captured!;
}

describe('SigV4 check: requests the AWS SDK v3 signs', () => {
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET };
  const options = { region: 'eu-west-1', credentials, maxAttempts: 1 };
  const sesSend = () =>
    signedBySdk(new SESv2Client({ ...options, endpoint: 'http://127.0.0.1:4010/sandbox/ses' }), (client) =>
      client.send(
        new SendEmailCommand({
          FromEmailAddress: 'noreply@herald.dev',
          Destination: { ToAddresses: ['ada@example.com'] },
          Content: { Simple: { Subject: { Data: 'Your receipt' }, Body: { Text: { Data: 'Thanks' } } } },
        }),
      ),
    );
  const snsPublish = () =>
    signedBySdk(new SNSClient({ ...options, endpoint: 'http://127.0.0.1:4010/sandbox/sns' }), (client) =>
      client.send(new PublishCommand({ PhoneNumber: '+14155552671', Message: 'Your code: 1234' })),
    );

  it('verifies SES SendEmail and SNS Publish as signed, unsigned headers (user-agent) and all', async () => {
    const ses = await sesSend();
    expect(ses.headers['user-agent']).toBeDefined();
    expect(ses.headers.authorization).not.toMatch(/[=;]user-agent[;,]/);
    expect(ses.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(await sigv4Problem(ses, secretOf)).toBeUndefined();
    expect(await sigv4Problem(await snsPublish(), secretOf)).toBeUndefined();
  });

  it('refuses a body changed under the X-Amz-Content-Sha256 the client signed', async () => {
    const ses = await sesSend();
    const tampered = Buffer.from(ses.rawBody!.toString().replace('ada@example.com', 'eve@example.com'));
    expect(await sigv4Problem({ ...ses, rawBody: tampered }, secretOf)).toEqual(mismatch);
    const sns = await snsPublish();
    const forged = Buffer.from(sns.rawBody!.toString().replace('1234', '9999'));
    expect(await sigv4Problem({ ...sns, rawBody: forged }, secretOf)).toEqual(mismatch);
  });

  it('refuses an unsigned header passed off as signed, and a signed one dropped', async () => {
    const ses = await sesSend();
    const widened = ses.headers.authorization!.replace('SignedHeaders=', 'SignedHeaders=accept;');
    expect(
      await sigv4Problem({ ...ses, headers: { ...ses.headers, authorization: widened } }, secretOf),
    ).toEqual(mismatch);
    const narrowed = ses.headers.authorization!.replace(/SignedHeaders=[^,]*host;/, 'SignedHeaders=');
    expect(
      await sigv4Problem({ ...ses, headers: { ...ses.headers, authorization: narrowed } }, secretOf),
    ).toEqual(mismatch);
  });
});
