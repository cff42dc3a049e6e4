import { describe, expect, it } from 'vitest';
import { classifyAwsError } from '../../src/providers/aws-error';
import { classifyFcmError } from '../../src/providers/fcm.provider';
import { classifySendgridError } from '../../src/providers/sendgrid.provider';
import { classifyTwilioError } from '../../src/providers/twilio.provider';

/**
 * Break round 13b, finding F1: each adapter tells a refusal of the ACCOUNT (credentials, account state) from a
 * refusal of the message or its recipient, with the vendors' documented codes, so dispatch can fail over to the
 * tenant's next account instead of failing the message.
 */
const twilio = (status: number, code: number) =>
  classifyTwilioError(Object.assign(new Error(`twilio ${code}`), { status, code }));
const sendgrid = (status: number) =>
  classifySendgridError(
    Object.assign(new Error('sendgrid'), {
      code: status,
      response: { body: { errors: [{ message: `refused ${status}` }] }, headers: {} },
    }),
  );
const aws = (name: string, status: number, message = 'aws refused') =>
  classifyAwsError(Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } }), 'SES');
const fcm = (code: string, message = 'fcm refused') =>
  classifyFcmError(Object.assign(new Error(message), { code }));

describe('account refusals are marked accountRefused, once, in the adapters', () => {
  it.each([
    // https://www.twilio.com/docs/api/errors/20003 (Authenticate), /20005 (Account not active),
    // /20008 (Test Account Credentials), /10001 (Account is not active)
    [401, 20003],
    [401, 20005],
    [403, 20008],
    [400, 10001],
    [401, 20099],
  ])('Twilio %i / %i refuses the account', (status, code) => {
    expect(twilio(status, code)).toMatchObject({
      code: String(code),
      retryable: false,
      details: { status, accountRefused: true },
    });
  });

  it.each([
    // The config's sender, not the message (break round b13c, finding 2): https://www.twilio.com/docs/api/errors/21606
    // (From not a message-capable number of the account or for the destination), /21659 (From not a Twilio
    // number), /21660 (From not the account's), /21212 (invalid From), /21701 (Messaging Service not the
    // account's), /63007 (no WhatsApp sender for that From)
    [400, 21606],
    [400, 21659],
    [400, 21660],
    [400, 21212],
    [400, 21701],
    [400, 63007],
  ])('Twilio %i / %i refuses the config’s sender: fails over like an account refusal', (status, code) => {
    expect(twilio(status, code)).toMatchObject({
      code: String(code),
      retryable: false,
      details: { status, accountRefused: true, invalidAddress: false },
    });
  });

  it.each([
    [400, 21211, false], // invalid To number: the recipient
    [400, 21610, false], // STOP: the recipient
    [503, 20500, true], // an outage retries on the same account
    [429, 20429, true],
  ])('Twilio %i / %i is not an account refusal', (status, code, retryable) => {
    const error = twilio(status, code);
    expect(error.retryable).toBe(retryable);
    expect(error.details.accountRefused).toBeUndefined();
  });

  it.each([401, 403])(
    'SendGrid %i refuses the account (key invalid, revoked or without mail.send)',
    (status) => {
      expect(sendgrid(status)).toMatchObject({
        code: String(status),
        retryable: false,
        message: `refused ${status}`,
        details: { accountRefused: true },
      });
    },
  );

  it.each([
    [400, false],
    [413, false],
    [429, true],
    [500, true],
  ])('SendGrid %i is not an account refusal', (status, retryable) => {
    const error = sendgrid(status);
    expect(error.retryable).toBe(retryable);
    expect(error.details.accountRefused).toBeUndefined();
  });

  it.each([
    ['UnrecognizedClientException', 403],
    ['InvalidClientTokenId', 403],
    ['SignatureDoesNotMatch', 403],
    ['IncompleteSignature', 400],
    ['MissingAuthenticationToken', 403],
    ['AccessDenied', 403],
    ['AccessDeniedException', 403],
    ['ExpiredToken', 403],
    ['ExpiredTokenException', 403],
    ['InvalidAccessKeyId', 403],
    ['AuthorizationError', 403],
    ['AccountSuspendedException', 400],
    ['SendingPausedException', 400],
    ['AccountSendingPausedException', 400],
    ['MailFromDomainNotVerifiedException', 400],
  ])('AWS %s (%i) refuses the account', (name, status) => {
    expect(aws(name, status)).toMatchObject({
      code: name,
      retryable: false,
      details: { accountRefused: true },
    });
  });

  it.each([
    // SES v2 answers for an unverified From identity, or (account in the SES sandbox) an unverified recipient
    // (https://repost.aws/knowledge-center/ses-554-400-message-rejected-error)
    'Email address is not verified. The following identities failed the check in region US-EAST-1: news@a.example',
  ])('SES MessageRejected "%s" refuses the config’s sender identity', (message) => {
    expect(aws('MessageRejected', 400, message)).toMatchObject({
      code: 'MessageRejected',
      retryable: false,
      message,
      details: { accountRefused: true },
    });
  });

  it.each([
    ['MessageRejected', 400, false],
    ['InvalidParameter', 400, false],
    ['TooManyRequestsException', 429, true],
    ['Throttling', 400, true],
    ['InternalFailure', 500, true],
  ])('AWS %s (%i) is not an account refusal', (name, status, retryable) => {
    const error = aws(name, status);
    expect(error.retryable).toBe(retryable);
    expect(error.details.accountRefused).toBeUndefined();
  });

  it.each([
    ['messaging/third-party-auth-error', 'THIRD_PARTY_AUTH_ERROR'],
    ['messaging/authentication-error', 'AUTHENTICATION_ERROR'],
  ])('FCM %s refuses the account (code %s)', (code, herald) => {
    expect(fcm(code)).toMatchObject({ code: herald, retryable: false, details: { accountRefused: true } });
  });

  it('FCM SENDER_ID_MISMATCH is the token’s (tied to another sender), not an account refusal', () => {
    // A device token of another Firebase project, registered by any user, must not open the tenant's circuit.
    const error = fcm('messaging/mismatched-credential');
    expect(error).toMatchObject({ code: 'SENDER_ID_MISMATCH', retryable: false });
    expect(error.details.accountRefused).toBeUndefined();
  });

  it('FCM: Google’s token endpoint refusing the service account is an account refusal; a network failure is not', () => {
    // firebase-admin's wording (lib/app/firebase-app.js) around google-auth-library's error.
    const refused = fcm(
      'app/invalid-credential',
      'Credential implementation provided to initializeApp() via the "credential" property failed to fetch a valid Google OAuth2 access token with the following error: "invalid_grant: Invalid JWT Signature.".',
    );
    expect(refused).toMatchObject({
      code: 'CREDENTIAL',
      retryable: false,
      details: { accountRefused: true },
    });
    const network = fcm(
      'app/invalid-credential',
      'Credential implementation provided to initializeApp() via the "credential" property failed to fetch a valid Google OAuth2 access token with the following error: "request to https://oauth2.googleapis.com/token failed, reason: getaddrinfo ENOTFOUND oauth2.googleapis.com".',
    );
    expect(network).toMatchObject({ code: 'CREDENTIAL', retryable: true });
    expect(network.details.accountRefused).toBeUndefined();
  });

  it.each(['messaging/registration-token-not-registered', 'messaging/invalid-argument'])(
    'FCM %s is about the message, not the account',
    (code) => {
      expect(fcm(code).details.accountRefused).toBeUndefined();
    },
  );
});
