import { createPublicKey, randomBytes } from 'node:crypto';
import type { Request } from 'express';
import { decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import type { FcmServiceAccount } from './accounts';

/** How long an emulated access token lives (Google's service account tokens: 3600 s). */
export const FCM_TOKEN_LIFETIME_SECONDS = 3600;
/** Tokens kept at most; the oldest are forgotten first (a forgotten token is answered 401, as an expired one). */
const MAX_TOKENS = 10_000;
/** Clock skew allowed on `iat`/`exp`, as Google allows some. */
const SKEW_SECONDS = 300;
/**
 * The longest an assertion may live, `exp` − `iat` (s), and the oldest its `iat` may be: "exp … maximum of 1 hour
 * after the issued time" (https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests).
 */
export const MAX_ASSERTION_LIFETIME_SECONDS = 3600;
/** Google's answer to an assertion outside those times (quoted by google-auth-library users). */
const BAD_TIMEFRAME =
  'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';

/** An OAuth 2.0 token endpoint answer (RFC 6749 §5.1 / §5.2). */
export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
}

const invalidGrant = (description: string): TokenAnswer => ({
  status: 400,
  body: { error: 'invalid_grant', error_description: description },
});

/**
 * The emulator's stand-in for Google's OAuth 2.0 token endpoint (https://oauth2.googleapis.com/token): the
 * JWT bearer grant of RFC 7523 that service accounts use ("Using OAuth 2.0 for Server to Server Applications",
 * https://developers.google.com/identity/protocols/oauth2/service-account). The assertion is an RS256 JWT whose `iss`
 * is a registered service account's client_email, signed with that account's key, with `aud` the token endpoint's own
 * URI, a `scope`, `iat` now and `exp` at most an hour later; the answer is `{ access_token, token_type: "Bearer",
 * expires_in }`, and the token then authorises FCM sends for that account's project only. Tenants' FCM adapters in
 * the sandbox get their tokens here, never from Google.
 */
export class FcmTokenIssuer {
  /** Issued token → its project and expiry (ms since the epoch). */
  private readonly tokens = new Map<string, { projectId: string; expiresAt: number }>();

  constructor(
    private readonly accountOf: (clientEmail: string) => FcmServiceAccount | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Answers a token request's form body (`grant_type`, `assertion`), refusing as Google does (RFC 6749 §5.2, 400):
   * - `invalid_grant` "Invalid JWT Signature." — `iss` is no registered account, or not signed RS256 by its key;
   * - `invalid_grant` "Invalid JWT: Failed audience check." — `aud` is not one of `audiences` (the URIs this
   *   endpoint is reached at; Google's own is https://oauth2.googleapis.com/token);
   * - `invalid_grant` BAD_TIMEFRAME — `exp` past, `iat` missing, in the future or older than an hour, or `exp` more
   *   than MAX_ASSERTION_LIFETIME_SECONDS after `iat` (all with SKEW_SECONDS of tolerance but the last);
   * - `invalid_scope` "Empty or missing scope not allowed." — no `scope`.
   */
  async issue(form: Record<string, unknown> | undefined, audiences: string[]): Promise<TokenAnswer> {
    if (form?.grant_type !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      return {
        status: 400,
        body: { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' },
      };
    const assertion = typeof form.assertion === 'string' ? form.assertion : '';
    let issuer: unknown;
    try {
      issuer = decodeJwt(assertion).iss;
    } catch {
      return invalidGrant(BAD_TIMEFRAME);
    }
    const account = typeof issuer === 'string' ? this.accountOf(issuer) : undefined;
    if (!account) return invalidGrant('Invalid JWT Signature.');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(assertion, createPublicKey(account.publicKeyPem), {
        algorithms: ['RS256'],
        issuer: account.clientEmail,
        audience: audiences,
        requiredClaims: ['exp', 'iat'],
        // Also refuses an `iat` more than SKEW_SECONDS in the future.
        maxTokenAge: MAX_ASSERTION_LIFETIME_SECONDS,
        clockTolerance: SKEW_SECONDS,
        currentDate: new Date(this.now()),
      }));
    } catch (error) {
      const { code, claim } = error as { code?: string; claim?: string };
      if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' || code === 'ERR_JOSE_ALG_NOT_ALLOWED')
        return invalidGrant('Invalid JWT Signature.');
      return invalidGrant(claim === 'aud' ? 'Invalid JWT: Failed audience check.' : BAD_TIMEFRAME);
    }
    if (payload.exp! - payload.iat! > MAX_ASSERTION_LIFETIME_SECONDS) return invalidGrant(BAD_TIMEFRAME);
    if (typeof payload.scope !== 'string' || payload.scope.trim() === '')
      return {
        status: 400,
        body: { error: 'invalid_scope', error_description: 'Empty or missing scope not allowed.' },
      };
    const token = `ya29.emulated-${randomBytes(24).toString('base64url')}`;
    this.tokens.set(token, {
      projectId: account.projectId,
      expiresAt: this.now() + FCM_TOKEN_LIFETIME_SECONDS * 1000,
    });
    while (this.tokens.size > MAX_TOKENS) this.tokens.delete(this.tokens.keys().next().value!);
    return {
      status: 200,
      body: { access_token: token, token_type: 'Bearer', expires_in: FCM_TOKEN_LIFETIME_SECONDS },
    };
  }

  /** The project an unexpired issued token authorises, or undefined. */
  projectOf(accessToken: string): string | undefined {
    const issued = this.tokens.get(accessToken);
    return issued && issued.expiresAt > this.now() ? issued.projectId : undefined;
  }
}

/**
 * The URIs a token request reached this endpoint at, which its assertion's `aud` must name (as Google's must name
 * https://oauth2.googleapis.com/token): the scheme and host the client used (or, behind a reverse proxy, the
 * `X-Forwarded-Proto` and `X-Forwarded-Host` it passed on, as the SigV4 check takes them) and the full path
 * (`/sandbox/fcm/token` on the API server: `${FCM_API_URL}/token`, where tenants' adapters ask). The query is no part
 * of it.
 */
export function tokenUrisOf(req: Request): string[] {
  const first = (value: string | string[] | undefined) =>
    typeof value === 'string' && value.trim() !== '' ? value.split(',')[0].trim() : undefined;
  const schemes = new Set([req.protocol, first(req.headers['x-forwarded-proto'])]);
  const hosts = new Set([req.headers.host, first(req.headers['x-forwarded-host'])]);
  const path = req.originalUrl.split('?')[0];
  return [...schemes].flatMap((scheme) =>
    [...hosts].flatMap((host) => (scheme && host ? [`${scheme}://${host}${path}`] : [])),
  );
}
