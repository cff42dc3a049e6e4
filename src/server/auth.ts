import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config/env';
import type { Caller } from '../services';
import { isSystemActorName, SYSTEM_ACTOR_PREFIXES, SYSTEM_ACTORS } from '../domain/audit-actors';
import { firstHiddenCharacter } from '../domain/hidden-characters';
import { SERVICE_WIDE } from '../entities';
import { PERMISSION_SCOPES } from '../resolvers/scopes';
import { UnauthenticatedError } from '../services/errors';

/** Every permission scope (`service` is not a permission: it marks a backend caller for rate limiting). */
export const ALL_SCOPES: string[] = [...PERMISSION_SCOPES];

/**
 * With auth off (development only), every caller is tenant "default" with every permission scope, and counts as a
 * backend (`service`), so local scripts are limited per tenant only.
 */
export const DEVELOPMENT_CALLER: Caller = {
  tenantId: 'default',
  subject: 'anonymous',
  scopes: [...ALL_SCOPES, 'service'],
  anonymous: true,
};

export type Authenticate = (authorization: string | undefined) => Promise<Caller>;

/**
 * Verifies `Authorization: Bearer <JWT>` (HS256 secret and/or JWKS) and maps sub, tenant and scope to a Caller, with
 * `expiresAt` (ms since epoch) from `exp`. Throws UNAUTHENTICATED for a missing, invalid or expired token and for one
 * without `sub`, `tenant` or `exp`: a token that never expires cannot be revoked, so it is refused; so is one whose
 * `exp` lies more than `maxTokenAgeSeconds` ahead, when that is set, and one whose `sub` or `tenant` is not a usable
 * identifier (identifierClaim). This is the one place tokens are checked: HTTP, websockets, `_entities`, the audit
 * export and the sandbox's admin routes all call it.
 */
export function createAuthenticator(auth: Config['auth']): Authenticate {
  if (!auth.enabled) return () => Promise.resolve(DEVELOPMENT_CALLER);
  const secret = auth.secret ? new TextEncoder().encode(auth.secret) : undefined;
  const jwks: JWTVerifyGetKey | undefined = auth.jwksUrl
    ? createRemoteJWKSet(new URL(auth.jwksUrl))
    : undefined;
  const options = {
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
  };

  const verify = async (token: string): Promise<JWTPayload> => {
    let lastError: unknown;
    if (secret) {
      try {
        return (await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] })).payload;
      } catch (error) {
        lastError = error;
      }
    }
    if (jwks) {
      try {
        return (await jwtVerify(token, jwks, options)).payload;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  };

  return async (authorization) => {
    const match = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? '');
    if (!match) throw new UnauthenticatedError('missing bearer token: send Authorization: Bearer <JWT>');
    let payload: JWTPayload;
    try {
      payload = await verify(match[1]);
    } catch (error) {
      throw new UnauthenticatedError(`invalid token: ${(error as Error).message}`);
    }
    const subject = identifierClaim(payload, 'sub');
    const tenant = identifierClaim(payload, 'tenant');
    // jose checks `exp` only when present (RFC 7519 §4.1.4 makes it optional); Herald requires it.
    if (typeof payload.exp !== 'number')
      throw new UnauthenticatedError('token has no "exp" claim: exp is required (tokens must expire)');
    const maxAge = auth.maxTokenAgeSeconds;
    if (maxAge !== undefined && payload.exp - Date.now() / 1000 > maxAge)
      throw new UnauthenticatedError(
        `token expires too far ahead: at most ${maxAge} s from now (JWT_MAX_TOKEN_AGE_SECONDS)`,
      );
    const scope = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
    return { tenantId: tenant, subject, scopes: scope, expiresAt: payload.exp * 1000 };
  };
}

/** Longest `sub` or `tenant` Herald keys rows and rate limits by (characters). */
const MAX_IDENTIFIER_LENGTH = 200;

/**
 * A `sub` or `tenant` claim as an identifier: a string, not blank (whitespace only), of at most 200 characters with no
 * control characters and no lone UTF-16 surrogates; for `sub` also no format or line-separator characters (Unicode
 * Cc/Cf/Zl/Zp: src/domain/hidden-characters.ts, the display-name rule) and none of Herald's own audit actors once
 * folded: trimmed, any case, NFKC (`webhook:…`, `provider:…`, `unsubscribe-link`, `ｗebhook：twilio`:
 * src/domain/audit-actors.ts). They key every row (PostgreSQL cannot store NUL, its indexes refuse long entries) and
 * the rate limits (encodeURIComponent throws on a lone surrogate), so a token from a careless or hostile issuer is
 * refused here as UNAUTHENTICATED instead of failing deeper as an internal error.
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused; \p{Cs} = lone surrogate
const UNSTORABLE_IN_IDENTIFIER = /[\u0000-\u001f\u007f]|\p{Cs}/u;

function identifierClaim(payload: JWTPayload, claim: 'sub' | 'tenant'): string {
  const value = payload[claim];
  if (typeof value !== 'string' || !value) throw new UnauthenticatedError(`token has no "${claim}" claim`);
  // Blank reads as nobody: an audit row by " " names no one, and a tenant " " is nobody's.
  if (!value.trim()) throw new UnauthenticatedError(`token claim "${claim}" is blank`);
  if (value.length > MAX_IDENTIFIER_LENGTH || UNSTORABLE_IN_IDENTIFIER.test(value))
    throw new UnauthenticatedError(
      `token claim "${claim}" must be at most ${MAX_IDENTIFIER_LENGTH} characters, without control characters or lone surrogates`,
    );
  // A `sub` is read by people as an audit row's actor: invisible and direction-changing characters would let it pass
  // for another name (`webhook\u200b:twilio`) or read backwards (U+202E), as a display name may not.
  const hidden = claim === 'sub' ? firstHiddenCharacter(value) : undefined;
  if (hidden)
    throw new UnauthenticatedError(
      `token claim "sub" must not contain control, invisible formatting or line-separator characters (found ${hidden})`,
    );
  // The audit trail records a caller by its `sub` beside Herald's own actors: a caller must not read as one of them.
  if (claim === 'sub' && isSystemActorName(value))
    throw new UnauthenticatedError(
      `token claim "sub" must not name one of Herald's own audit actors (${RESERVED_ACTORS}): issue the token for another subject`,
    );
  // "*" (SERVICE_WIDE) is the identity of the service-wide accounts: address blocks and provider events kept under it
  // apply to every tenant, so a tenant "*" would make its own config's STOPs and bounces block every tenant.
  if (claim === 'tenant' && value.trim() === SERVICE_WIDE)
    throw new UnauthenticatedError(
      `token claim "tenant" must not be "${SERVICE_WIDE}": it names the service-wide accounts shared by every tenant`,
    );
  return value;
}

/** `webhook:…, provider:…, unsubscribe-link`, as an error message names them. */
const RESERVED_ACTORS = [...SYSTEM_ACTOR_PREFIXES.map((prefix) => `${prefix}…`), ...SYSTEM_ACTORS].join(', ');
