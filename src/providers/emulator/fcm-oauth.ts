import { createPublicKey, randomBytes } from 'node:crypto';
import { decodeJwt, jwtVerify } from 'jose';
import type { FcmServiceAccount } from './accounts';

/** How long an emulated access token lives (Google's service account tokens: 3600 s). */
export const FCM_TOKEN_LIFETIME_SECONDS = 3600;
/** Tokens kept at most; the oldest are forgotten first (a forgotten token is answered 401, as an expired one). */
const MAX_TOKENS = 10_000;
/** Clock skew allowed on `iat`/`exp`, as Google allows some. */
const SKEW_SECONDS = 300;

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
 * is a registered service account's client_email, signed with that account's key, with `exp` in the future; the
 * answer is `{ access_token, token_type: "Bearer", expires_in }`, and the token then authorises FCM sends for that
 * account's project only. Tenants' FCM adapters in the sandbox get their tokens here, never from Google.
 */
export class FcmTokenIssuer {
  /** Issued token → its project and expiry (ms since the epoch). */
  private readonly tokens = new Map<string, { projectId: string; expiresAt: number }>();

  constructor(
    private readonly accountOf: (clientEmail: string) => FcmServiceAccount | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Answers a token request's form body (`grant_type`, `assertion`). The assertion is checked with jose (RS256 only,
   * signed by the registered account named in `iss`, `exp`/`iat` within SKEW_SECONDS).
   */
  async issue(form: Record<string, unknown> | undefined): Promise<TokenAnswer> {
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
      return invalidGrant('Invalid JWT: Token must be a short-lived token and in a reasonable timeframe');
    }
    const account = typeof issuer === 'string' ? this.accountOf(issuer) : undefined;
    if (!account) return invalidGrant('Invalid JWT Signature.');
    try {
      const { payload } = await jwtVerify(assertion, createPublicKey(account.publicKeyPem), {
        algorithms: ['RS256'],
        issuer: account.clientEmail,
        requiredClaims: ['exp', 'iat'],
        clockTolerance: SKEW_SECONDS,
        currentDate: new Date(this.now()),
      });
      if (payload.iat! > Math.floor(this.now() / 1000) + SKEW_SECONDS)
        return invalidGrant('Invalid JWT: Token must be a short-lived token and in a reasonable timeframe');
    } catch (error) {
      const code = (error as { code?: string }).code;
      return invalidGrant(
        code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' || code === 'ERR_JOSE_ALG_NOT_ALLOWED'
          ? 'Invalid JWT Signature.'
          : 'Invalid JWT: Token must be a short-lived token and in a reasonable timeframe',
      );
    }
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
