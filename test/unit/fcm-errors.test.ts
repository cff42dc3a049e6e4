import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  classifyFcmError,
  FCM_PERMANENT_ERRORS,
  FCM_RETRYABLE_ERRORS,
} from '../../src/providers/fcm.provider';

/**
 * firebase-admin's own list of codes, read from the installed package (its lib/ is not exported, so it cannot be
 * imported): `MessagingClientErrorCode.X = { code: 'y', … }` and `AppErrorCodes.X = 'y'` in lib/utils/error.js.
 */
function firebaseAdminCodes(): { messaging: string[]; app: string[] } {
  const source = readFileSync(
    join(process.cwd(), 'node_modules', 'firebase-admin', 'lib', 'utils', 'error.js'),
    'utf8',
  );
  const messaging = [...source.matchAll(/MessagingClientErrorCode\.\w+ = \{\s*code: '([^']+)'/g)].map(
    (m) => `messaging/${m[1]}`,
  );
  const app = [...source.matchAll(/AppErrorCodes\.\w+ = '([^']+)'/g)].map((m) => `app/${m[1]}`);
  return { messaging, app };
}

describe('FCM error classification covers every firebase-admin messaging code (src/providers/fcm.provider.ts)', () => {
  const { messaging, app } = firebaseAdminCodes();

  it('every MessagingClientErrorCode is classified, once, and no code is invented', () => {
    expect(messaging.length).toBe(19);
    const permanent = [...FCM_PERMANENT_ERRORS.keys()];
    const retryable = [...FCM_RETRYABLE_ERRORS.keys()];
    expect(permanent.filter((c) => retryable.includes(c))).toEqual([]);
    expect([...permanent, ...retryable].filter((c) => c.startsWith('messaging/')).sort()).toEqual(
      [...messaging].sort(),
    );
    expect(retryable.filter((c) => c.startsWith('app/')).every((c) => app.includes(c))).toBe(true);
  });

  it.each([
    // firebase-admin's own checks before sending (validateMessage): the break round's "Malformed topic name".
    ['messaging/invalid-payload', 'INVALID_PAYLOAD'],
    ['messaging/invalid-argument', 'INVALID_ARGUMENT'],
    ['messaging/invalid-data-payload-key', 'INVALID_ARGUMENT'],
    ['messaging/invalid-options', 'INVALID_ARGUMENT'],
    ['messaging/payload-size-limit-exceeded', 'INVALID_ARGUMENT'],
    ['messaging/registration-token-not-registered', 'UNREGISTERED'],
    ['messaging/mismatched-credential', 'SENDER_ID_MISMATCH'],
    ['messaging/third-party-auth-error', 'THIRD_PARTY_AUTH_ERROR'],
    ['messaging/authentication-error', 'AUTHENTICATION_ERROR'],
  ])('%s is permanent with code %s', (code, herald) => {
    expect(classifyFcmError(Object.assign(new Error('refused'), { code }))).toMatchObject({
      code: herald,
      retryable: false,
      details: { invalidAddress: herald === 'UNREGISTERED' },
    });
  });

  it.each([
    ['messaging/server-unavailable', 'UNAVAILABLE'],
    ['messaging/internal-error', 'INTERNAL'],
    ['messaging/message-rate-exceeded', 'QUOTA_EXCEEDED'],
    ['messaging/unknown-error', 'UNKNOWN'],
    ['app/network-timeout', 'TIMEOUT'],
    ['app/invalid-credential', 'CREDENTIAL'],
    ['something/else', 'something/else'],
  ])('%s is retryable with code %s', (code, herald) => {
    expect(classifyFcmError(Object.assign(new Error('later'), { code }))).toMatchObject({
      code: herald,
      retryable: true,
    });
  });
});
