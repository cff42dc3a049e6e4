/**
 * What the sandbox emulator keeps of a request's credentials: enough to tell which account sent it, never enough to
 * use it. Recordings are read by admins (GET /sandbox/messages, /sandbox/__emulator/requests) and by tests, and the
 * emulator also receives tenants' own accounts (channel configs, issue 13), so a recorded auth token, API key or
 * signature would hand one tenant's credentials to whoever reads the sandbox.
 *
 * Authorization (and Proxy-Authorization) headers, by scheme:
 * - `Basic <base64 sid:token>` (Twilio) → `Basic <sid>:***` (the account SID is an identifier, shown in clear);
 * - `Bearer SG.<key id>.<secret>` (SendGrid) → `Bearer SG.<key id>.***` (SendGrid's key id names the key);
 * - `AWS4-HMAC-SHA256 Credential=<key id>/<scope>, SignedHeaders=…, Signature=<hex>` (SES, SNS) → the same with
 *   `Signature=***` (the access key id and scope are identifiers);
 * - any other `Bearer` (FCM's OAuth access token) → `Bearer ***`; any other scheme → `<scheme> ***`; no scheme →
 *   `***`.
 * Other credential headers (x-amz-security-token, x-api-key, cookie…) → `***`. Body fields whose name says they hold a
 * credential (authToken, api_key, password, secret, privateKey, accessToken, …) → `***`, at any depth; an FCM
 * message's `token` is the device's address, not a credential, and is kept.
 */

export const REDACTED = '***';

/** Headers holding only a credential: replaced whole. */
const SECRET_HEADERS = new Set([
  'x-amz-security-token',
  'x-api-key',
  'x-auth-token',
  'cookie',
  'set-cookie',
  'x-twilio-signature',
  'x-twilio-email-event-webhook-signature',
]);

/** Headers in Authorization's shape: scheme kept, credential redacted by scheme. */
const AUTHORIZATION_HEADERS = new Set(['authorization', 'proxy-authorization']);

/**
 * Body field names (lower case, `-` and `_` removed) that hold a credential, matched as a suffix: `authToken`,
 * `twilio_auth_token`, `apiKey`, `client_secret`, `privateKey`, `private_key_id` is not one (it ends in `id`).
 */
const SECRET_FIELD_SUFFIXES = [
  'password',
  'passwd',
  'secret',
  'authtoken',
  'apikey',
  'privatekey',
  'accesstoken',
  'refreshtoken',
  'sessiontoken',
  'idtoken',
  'secretaccesskey',
  'credentials',
  'signature',
];

/** An Authorization header value with its secret part replaced (rules above). */
export function redactAuthorization(value: string): string {
  const trimmed = value.trim();
  const space = trimmed.indexOf(' ');
  if (space < 0) return REDACTED;
  const scheme = trimmed.slice(0, space);
  const credential = trimmed.slice(space + 1).trim();
  switch (scheme.toLowerCase()) {
    case 'basic':
      return `${scheme} ${basicUser(credential)}:${REDACTED}`;
    case 'bearer': {
      // SendGrid API keys are `SG.<key id>.<secret>`: the key id names the key in SendGrid's console.
      const sendgrid = /^SG\.([^.\s]+)\.\S+$/.exec(credential);
      return sendgrid ? `${scheme} SG.${sendgrid[1]}.${REDACTED}` : `${scheme} ${REDACTED}`;
    }
    case 'aws4-hmac-sha256':
      return `${scheme} ${credential.replace(/Signature=[^,\s]*/gi, `Signature=${REDACTED}`)}`;
    default:
      return `${scheme} ${REDACTED}`;
  }
}

/** The user part of a Basic credential (Twilio's account SID), or `***` when it does not decode to `user:password`. */
function basicUser(credential: string): string {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(credential)) return REDACTED;
  const decoded = Buffer.from(credential, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // Only a plain identifier is shown: anything else (binary, a colon-less blob) could be the secret itself.
  if (colon < 0 || !/^[\w.@-]{1,128}$/.test(decoded.slice(0, colon))) return REDACTED;
  return decoded.slice(0, colon);
}

/** A copy of request headers with every credential redacted (rules above). Header names are kept as given. */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  const redacted: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (AUTHORIZATION_HEADERS.has(lower)) redacted[name] = redactAuthorization(value);
    else if (SECRET_HEADERS.has(lower)) redacted[name] = REDACTED;
    else redacted[name] = value;
  }
  return redacted;
}

/** Whether a body field's name says it holds a credential (SECRET_FIELD_SUFFIXES). */
export function isSecretField(name: string): boolean {
  const key = name.toLowerCase().replace(/[-_]/g, '');
  return SECRET_FIELD_SUFFIXES.some((suffix) => key.endsWith(suffix));
}

/**
 * A copy of a parsed body (JSON or form fields) with every credential-named field's value replaced by `***`, at any
 * depth (the value is already bounded in depth by recording-budget.ts). Other values are kept as they are.
 */
export function redactBody(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactBody);
  if (value === null || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = isSecretField(key) && item !== null && item !== undefined ? REDACTED : redactBody(item);
  }
  return copy;
}
