import { describe, expect, it } from 'vitest';
import { redactAuthorization, redactBody, redactHeaders } from '../../src/sandbox/recording-redaction';

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * The emulator's recordings (GET /sandbox/messages) name the account a request used and never hold its credential:
 * Twilio's auth token, SendGrid's key secret, FCM's access token, an AWS signature, any other Authorization.
 */
describe('emulator recording redaction', () => {
  const SID = `AC${'a'.repeat(32)}`;

  it.each([
    ['Twilio Basic: the account SID, the token redacted', basic(SID, 'tenant-token-1'), `Basic ${SID}:***`],
    ['Basic whose user is no identifier', basic('a b\u0000c', 'x'), 'Basic ***:***'],
    ['Basic that is not base64', 'Basic not*base64!', 'Basic ***:***'],
    ['Basic without a colon', `Basic ${Buffer.from('just-a-secret').toString('base64')}`, 'Basic ***:***'],
    [
      'SendGrid key: its id kept, its secret part redacted',
      'Bearer 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',
      'Bearer SG.ngeVfQFYQlKU0ufo8x5d1A.***',
    ],
    ['FCM OAuth access token', 'Bearer ya29.a0AfH6SMBx-secret-access-token', 'Bearer ***'],
    ['bearer in lower case', 'bearer opaque', 'bearer ***'],
    [
      'AWS SigV4: credential scope and signed headers kept, the signature redacted',
      'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE000/20250101/eu-west-1/ses/aws4_request, SignedHeaders=host;x-amz-date, Signature=' +
        'f'.repeat(64),
      'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE000/20250101/eu-west-1/ses/aws4_request, SignedHeaders=host;x-amz-date, Signature=***',
    ],
    ['another scheme', 'Digest username="u", response="abc"', 'Digest ***'],
    ['no scheme at all', 'raw-secret-token', '***'],
  ])('%s', (_case, header, expected) => {
    expect(redactAuthorization(header)).toBe(expected);
  });

  it('headers: Authorization by scheme, credential headers whole, the rest as received', () => {
    const redacted = redactHeaders({
      authorization: basic(SID, 'tok'),
      'proxy-authorization': 'Bearer proxy-secret',
      'x-amz-security-token': 'session-secret',
      'x-api-key': 'key-secret',
      cookie: 'sid=cookie-secret',
      'content-type': 'application/json',
      'user-agent': 'twilio-node/5',
    });
    expect(redacted).toEqual({
      authorization: `Basic ${SID}:***`,
      'proxy-authorization': 'Bearer ***',
      'x-amz-security-token': '***',
      'x-api-key': '***',
      cookie: '***',
      'content-type': 'application/json',
      'user-agent': 'twilio-node/5',
    });
    expect(Object.values(redacted).join(' ')).not.toMatch(/tok|secret/);
  });

  it('bodies: credential-named fields at any depth are ***; addresses, device tokens and content are kept', () => {
    const body = {
      To: '+14155552671',
      Body: 'Your code is 123456',
      AuthToken: 'a1',
      api_key: 'a2',
      nested: { client_secret: 'a3', privateKey: 'a4', list: [{ password: 'a5', accessToken: 'a6' }] },
      'x-refresh-token': 'a7',
      SecretAccessKey: 'a8',
      private_key_id: 'kept-id',
      message: { token: 'device-registration-token', notification: { title: 'T' } },
      empty: { secret: null },
    };
    expect(redactBody(body)).toEqual({
      To: '+14155552671',
      Body: 'Your code is 123456',
      AuthToken: '***',
      api_key: '***',
      nested: { client_secret: '***', privateKey: '***', list: [{ password: '***', accessToken: '***' }] },
      'x-refresh-token': '***',
      SecretAccessKey: '***',
      private_key_id: 'kept-id',
      message: { token: 'device-registration-token', notification: { title: 'T' } },
      empty: { secret: null },
    });
    expect(redactBody('text')).toBe('text');
    expect(redactBody(undefined)).toBeUndefined();
  });
});
