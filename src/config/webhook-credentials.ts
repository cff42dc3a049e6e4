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

/** The same key in base64 DER or PEM compares equal. */
const keyBody = (key: string) => key.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');

/**
 * Production: only what the operator configured, and never a value published in this repository (anyone can sign
 * with those). Problems are collected like every other configuration problem.
 */
export function productionWebhookCredentials(
  secrets: ConfiguredSecrets,
  problems: string[],
): WebhookCredentials {
  const credentials: WebhookCredentials = {};
  if (secrets.twilioAuthToken === SANDBOX.twilio.authToken) {
    problems.push('TWILIO_AUTH_TOKEN: the sandbox token is public and is refused in production');
  } else if (secrets.twilioAuthToken) {
    credentials.twilio = { authToken: secrets.twilioAuthToken, origin: 'configured' };
  }
  if (
    secrets.sendgridPublicKey &&
    keyBody(secrets.sendgridPublicKey) === SANDBOX_SENDGRID_WEBHOOK_KEYS.publicKeyBase64
  ) {
    problems.push('SENDGRID_WEBHOOK_PUBLIC_KEY: the sandbox key is public and is refused in production');
  } else if (secrets.sendgridPublicKey) {
    credentials.sendgrid = {
      publicKey: secrets.sendgridPublicKey,
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
): WebhookCredentials {
  const credentials: WebhookCredentials = {};
  if (secrets.twilioAuthToken)
    credentials.twilio = { authToken: secrets.twilioAuthToken, origin: 'configured' };
  else if (sandbox.twilio) credentials.twilio = { authToken: SANDBOX.twilio.authToken, origin: 'sandbox' };
  if (secrets.sendgridPublicKey) {
    credentials.sendgrid = {
      publicKey: secrets.sendgridPublicKey,
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
