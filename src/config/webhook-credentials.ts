import { createPublicKey } from 'node:crypto';
import { z } from 'zod';
import { SANDBOX, SANDBOX_SENDGRID_WEBHOOK_KEYS } from './sandbox';
import { intWithDefault } from './zod-helpers';

export const webhookWindowModel = z.object({
  /**
   * Oldest SendGrid Event Webhook timestamp accepted, in hours. SendGrid retries a failed POST "for 24 hours"
   * (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook), so the
   * window must exceed 24; the default leaves room for an outage of ours on top of that.
   */
  SENDGRID_WEBHOOK_MAX_AGE_HOURS: intWithDefault(72, 25),
  /** How far ahead of our clock a SendGrid timestamp may be (their clock vs ours), in seconds. */
  SENDGRID_WEBHOOK_MAX_SKEW_SECONDS: intWithDefault(300, 0),
});

/** Where a webhook secret came from: the operator's environment, or the sandbox values published in the repo. */
export type SecretOrigin = 'configured' | 'sandbox';

/**
 * What verifies provider webhooks. A vendor without an entry here has no webhook routes (404). In production every
 * entry is `configured`: the builder below for production never reads the sandbox values except to refuse them.
 */
export interface WebhookCredentials {
  /** Twilio auth token: X-Twilio-Signature is an HMAC-SHA1 with it over PUBLIC_URL + path + fields. */
  twilio?: { authToken: string; origin: SecretOrigin };
  /** SendGrid Event Webhook verification key (base64 DER or PEM), and the accepted timestamp window. */
  sendgrid?: { publicKey: string; origin: SecretOrigin; maxAgeSeconds: number; maxSkewSeconds: number };
  /**
   * The SendGrid timestamp window (seconds) for every SendGrid verification, the service-wide key's and each tenant
   * channel config's own key (POST /webhooks/sendgrid/:configId/events).
   */
  sendgridWindow: { maxAgeSeconds: number; maxSkewSeconds: number };
}

interface ConfiguredSecrets {
  /** TWILIO_AUTH_TOKEN when Twilio is configured (live), else undefined. */
  twilioAuthToken?: string;
  sendgridPublicKey?: string;
  window: z.infer<typeof webhookWindowModel>;
}

const windowSeconds = (window: ConfiguredSecrets['window']) => ({
  maxAgeSeconds: window.SENDGRID_WEBHOOK_MAX_AGE_HOURS * 3600,
  maxSkewSeconds: window.SENDGRID_WEBHOOK_MAX_SKEW_SECONDS,
});

/**
 * The SendGrid verification key as canonical base64 SPKI DER, parsed by node's crypto (PEM or base64 DER, padding or
 * not, any whitespace), so two spellings of one key compare equal. SendGrid signs with ECDSA P-256
 * (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features):
 * anything else is refused. Returns a problem message instead when the key is not such a key.
 */
export function canonicalSendgridKey(key: string): { der: string } | { problem: string } {
  try {
    const text = key.trim();
    const parsed = text.includes('-----BEGIN')
      ? createPublicKey(text)
      : createPublicKey({
          key: Buffer.from(text.replace(/\s+/g, ''), 'base64'),
          format: 'der',
          type: 'spki',
        });
    if (parsed.asymmetricKeyType !== 'ec' || parsed.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      return {
        problem: 'SENDGRID_WEBHOOK_PUBLIC_KEY: not an ECDSA P-256 public key, which SendGrid signs with',
      };
    }
    return { der: parsed.export({ type: 'spki', format: 'der' }).toString('base64') };
  } catch {
    return {
      problem:
        'SENDGRID_WEBHOOK_PUBLIC_KEY: not a public key (give the verification key SendGrid shows, base64 DER, or PEM)',
    };
  }
}

const SANDBOX_SENDGRID_DER = (() => {
  const canonical = canonicalSendgridKey(SANDBOX_SENDGRID_WEBHOOK_KEYS.publicKeyBase64);
  if (!('der' in canonical)) throw new Error('the sandbox SendGrid key does not parse');
  return canonical.der;
})();

/** The configured key, parsed; a problem is collected for an unparseable one (and no key is returned). */
function configuredSendgridKey(key: string | undefined, problems: string[]): string | undefined {
  if (!key) return undefined;
  const canonical = canonicalSendgridKey(key);
  if ('problem' in canonical) {
    problems.push(canonical.problem);
    return undefined;
  }
  return canonical.der;
}

/**
 * Production: only what the operator configured, and never a value published in this repository (anyone can sign
 * with those). Problems are collected like every other configuration problem.
 */
export function productionWebhookCredentials(
  secrets: ConfiguredSecrets,
  problems: string[],
): WebhookCredentials {
  const credentials: WebhookCredentials = { sendgridWindow: windowSeconds(secrets.window) };
  // Whitespace around a pasted token is no other token.
  const twilioToken = secrets.twilioAuthToken?.trim();
  if (twilioToken === SANDBOX.twilio.authToken) {
    problems.push('TWILIO_AUTH_TOKEN: the sandbox token is public and is refused in production');
  } else if (twilioToken) {
    credentials.twilio = { authToken: twilioToken, origin: 'configured' };
  }
  // Compared as parsed keys, not text: the sandbox key without its padding, or as PEM, is still the sandbox key.
  const sendgridKey = configuredSendgridKey(secrets.sendgridPublicKey, problems);
  if (sendgridKey === SANDBOX_SENDGRID_DER) {
    problems.push('SENDGRID_WEBHOOK_PUBLIC_KEY: the sandbox key is public and is refused in production');
  } else if (sendgridKey) {
    credentials.sendgrid = {
      publicKey: sendgridKey,
      origin: 'configured',
      ...windowSeconds(secrets.window),
    };
  }
  return credentials;
}

/**
 * Outside production: what is configured, else the sandbox values for a vendor running in sandbox mode, so the
 * built-in emulator's signed callbacks are accepted.
 */
export function developmentWebhookCredentials(
  secrets: ConfiguredSecrets,
  sandbox: { twilio: boolean; sendgrid: boolean },
  problems: string[],
): WebhookCredentials {
  const credentials: WebhookCredentials = { sendgridWindow: windowSeconds(secrets.window) };
  const twilioToken = secrets.twilioAuthToken?.trim();
  if (twilioToken) credentials.twilio = { authToken: twilioToken, origin: 'configured' };
  else if (sandbox.twilio) credentials.twilio = { authToken: SANDBOX.twilio.authToken, origin: 'sandbox' };
  const sendgridKey = configuredSendgridKey(secrets.sendgridPublicKey, problems);
  if (sendgridKey) {
    credentials.sendgrid = {
      publicKey: sendgridKey,
      origin: 'configured',
      ...windowSeconds(secrets.window),
    };
  } else if (sandbox.sendgrid) {
    credentials.sendgrid = {
      publicKey: SANDBOX_SENDGRID_WEBHOOK_KEYS.publicKeyBase64,
      origin: 'sandbox',
      ...windowSeconds(secrets.window),
    };
  }
  return credentials;
}
