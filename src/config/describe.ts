import type { Config } from './env';

/** Masks credentials in a URL (postgres://user:secret@host → postgres://user:***@host). */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '***';
  }
}

const maskSecret = (value: string | undefined) =>
  value ? `${value.slice(0, 4)}…(${value.length} chars)` : 'unset';

/** The one screen printed at startup: what runs, against what, and how each channel will send. */
export function describeConfig(config: Config, role: string): string {
  // A disabled channel (production without credentials) names what to set, not the sandbox values it will not use.
  const channel = (name: string, mode: string, detail: string, needs = '') =>
    `  ${name.padEnd(9)} ${mode.padEnd(8)} ${mode === 'disabled' ? `no credentials; set ${needs}` : detail}`;
  const lines = [
    // A worker serves no HTTP: naming a port would send an operator looking for a server that is not there.
    role === 'worker'
      ? `Herald — role worker, NODE_ENV ${config.server.nodeEnv}, no HTTP server (the api role serves ${config.server.publicUrl})`
      : `Herald — role ${role}, NODE_ENV ${config.server.nodeEnv}, port ${config.server.port}`,
    `  public url  ${config.server.publicUrl}`,
    `  database    ${maskUrl(config.db.url)}`,
    `  redis       ${maskUrl(config.redis.url)} (key prefix ${config.redis.keyPrefix})`,
    config.auth.enabled
      ? `  auth        ON (${config.auth.secret ? `HS256 secret ${maskSecret(config.auth.secret)}` : ''}${config.auth.jwksUrl ? ` JWKS ${config.auth.jwksUrl}` : ''})`
      : '  auth        OFF — every caller is tenant "default" with all scopes. Set JWT_SECRET or JWT_JWKS_URL before exposing this service.',
    'channels:',
    channel(
      'EMAIL',
      config.sendgrid.mode,
      `sendgrid key ${maskSecret(config.sendgrid.apiKey)} from ${config.sendgrid.from}${config.sendgrid.apiUrl ? ` via ${config.sendgrid.apiUrl}` : ''}`,
      'SENDGRID_API_KEY and EMAIL_FROM',
    ),
    channel(
      'SMS',
      config.twilio.mode,
      `twilio ${config.twilio.accountSid} token ${maskSecret(config.twilio.authToken)} from ${config.twilio.from}${config.twilio.apiUrl ? ` via ${config.twilio.apiUrl}` : ''}`,
      'TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM',
    ),
    channel(
      'WHATSAPP',
      config.twilio.mode,
      `twilio from ${config.twilio.whatsappFrom}`,
      'TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM',
    ),
    channel(
      'PUSH',
      config.fcm.mode,
      `fcm project ${config.fcm.projectId}${config.fcm.apiUrl ? ` via ${config.fcm.apiUrl}` : ''}`,
      'FIREBASE_SERVICE_ACCOUNT and FIREBASE_PROJECT_ID',
    ),
    `order     EMAIL ${config.routing.email.join(' → ')}; SMS ${config.routing.sms.join(' → ')}${
      [...config.routing.email, ...config.routing.sms].some((id) => id === 'ses' || id === 'sns')
        ? ` (aws ${config.aws.mode}, region ${config.aws.region}${config.aws.sesApiUrl ? `, ses via ${config.aws.sesApiUrl}` : ''}${config.aws.snsApiUrl ? `, sns via ${config.aws.snsApiUrl}` : ''})`
        : ''
    }; circuit opens after ${config.routing.circuit.failureThreshold} failures for ${config.routing.circuit.halfOpenAfterMs} ms`,
    `webhooks  ${config.server.publicUrl}/webhooks/… — Twilio ${
      config.webhooks.twilio
        ? `verified with the ${config.webhooks.twilio.origin === 'sandbox' ? 'sandbox token' : 'TWILIO_AUTH_TOKEN'}`
        : 'not served (404; configure Twilio)'
    }; SendGrid events ${
      config.webhooks.sendgrid
        ? `verified with the ${config.webhooks.sendgrid.origin === 'sandbox' ? 'sandbox key' : 'SENDGRID_WEBHOOK_PUBLIC_KEY'}, signed at most ${config.webhooks.sendgrid.maxAgeSeconds / 3600} h ago`
        : 'not served (404; set SENDGRID_WEBHOOK_PUBLIC_KEY)'
    }`,
  ];
  return lines.join('\n');
}
