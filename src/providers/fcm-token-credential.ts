import { createPrivateKey } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Credential, GoogleOAuthAccessToken } from 'firebase-admin/app';

/** What the JWT bearer grant needs of a service account (its JSON key file's fields). */
export interface ServiceAccountKey {
  clientEmail: string;
  privateKey: string;
}

/** The scope FCM v1 sends need (https://firebase.google.com/docs/cloud-messaging/auth-server). */
export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';

/**
 * A firebase-admin Credential that obtains its access token with the OAuth 2.0 JWT bearer grant (RFC 7523) from
 * `tokenUrl` — the same exchange `cert()` makes with Google (an RS256 assertion from the service account, scope,
 * audience = the token endpoint, one hour), but to the endpoint given. Herald uses it when FCM's endpoint is
 * overridden (the sandbox emulator: `${FCM_API_URL}/token`), so a tenant's signed assertion never leaves for Google
 * while its messages go to the emulator (break round 13b, F2). firebase-admin caches the token until near expiry.
 * A refusal or network failure rejects; firebase-admin reports it as `app/invalid-credential` (retryable, CREDENTIAL).
 */
export function jwtBearerCredential(key: ServiceAccountKey, tokenUrl: string, timeoutMs: number): Credential {
  return {
    async getAccessToken(): Promise<GoogleOAuthAccessToken> {
      // The assertion Google's token endpoint takes (RS256; iss, scope, aud, iat, exp one hour on), signed by jose.
      // One clock reading for both: `exp` may be at most an hour after `iat`, and two readings can straddle a second.
      const issuedAt = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({ scope: FCM_SCOPE })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
        .setIssuer(key.clientEmail)
        .setAudience(tokenUrl)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + 3600)
        .sign(createPrivateKey(key.privateKey));
      const response = await fetch(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
          assertion,
        }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = (await response.json().catch(() => ({}))) as {
        access_token?: unknown;
        expires_in?: unknown;
        error?: unknown;
        error_description?: unknown;
      };
      if (!response.ok || typeof body.access_token !== 'string' || typeof body.expires_in !== 'number')
        throw new Error(
          `${response.status}: ${typeof body.error === 'string' ? body.error : 'token request refused'}${
            typeof body.error_description === 'string' ? ` (${body.error_description})` : ''
          }`,
        );
      return { access_token: body.access_token, expires_in: body.expires_in };
    },
  };
}

/** Where a tenant's FCM tokens come from when FCM is reached at `fcmApiUrl` (the emulator's token endpoint). */
export const emulatedTokenUrl = (fcmApiUrl: string) => `${fcmApiUrl.replace(/\/$/, '')}/token`;
