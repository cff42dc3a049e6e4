import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import pg from 'pg';
import twilio from 'twilio';
import { afterAll, beforeAll } from 'vitest';
import { SANDBOX } from '../../src/config/sandbox';
import { startStack, type TestStack } from './stack';

/** Signs and posts provider webhooks the way Twilio and SendGrid do. */
export class WebhookSender {
  readonly sendgridKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

  /** Herald's base URL (PUBLIC_URL); set once the stack is up. */
  baseUrl = '';

  constructor(private readonly twilioAuthToken: string = SANDBOX.twilio.authToken) {}

  /** Base64 DER, as SendGrid shows the verification key. */
  get sendgridPublicKey(): string {
    return this.sendgridKeys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  }

  /** A form post; an array value is posted as the field repeated, once per value, as Twilio does. */
  twilio(
    path: string,
    params: Record<string, string | string[]>,
    options: {
      signUrl?: string;
      token?: string;
      signature?: string | null;
      tamper?: (body: string) => string;
    } = {},
  ) {
    const url = `${this.baseUrl}${path}`;
    const signature =
      options.signature === undefined
        ? twilio.getExpectedTwilioSignature(
            options.token ?? this.twilioAuthToken,
            options.signUrl ?? url,
            params as Record<string, string>,
          )
        : options.signature;
    const form = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      for (const item of Array.isArray(value) ? value : [value]) form.append(key, item);
    }
    const body = form.toString();
    return fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(signature ? { 'x-twilio-signature': signature } : {}),
      },
      body: options.tamper ? options.tamper(body) : body,
    });
  }

  sendgrid(
    events: Record<string, unknown>[] | string | Buffer,
    options: {
      key?: KeyObject;
      signature?: string | null;
      tamper?: (body: string) => string;
      timestamp?: string;
    } = {},
  ) {
    const body = Buffer.isBuffer(events)
      ? events
      : Buffer.from(typeof events === 'string' ? events : JSON.stringify(events));
    const timestamp = options.timestamp ?? String(Math.floor(Date.now() / 1000));
    const signature =
      options.signature === undefined
        ? sign(
            'sha256',
            Buffer.concat([Buffer.from(timestamp), body]),
            options.key ?? this.sendgridKeys.privateKey,
          ).toString('base64')
        : options.signature;
    return fetch(`${this.baseUrl}/webhooks/sendgrid/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-twilio-email-event-webhook-timestamp': timestamp,
        ...(signature ? { 'x-twilio-email-event-webhook-signature': signature } : {}),
      },
      body: options.tamper ? options.tamper(body.toString('utf8')) : body,
    });
  }
}

/** What `useWebhookStack` gives a suite: set in its beforeAll. */
export interface WebhookStack {
  sender: WebhookSender;
  stack: TestStack;
  /** A client on the stack's own database, to read what was stored. */
  db: pg.Client;
}

/**
 * Registers the suite's hooks: a stack whose SendGrid webhooks verify with the sender's key, the sender pointed at it,
 * and a pg client on its database; all closed after the suite. Call inside `describe`.
 */
export function useWebhookStack(extraEnv: Record<string, string> = {}): WebhookStack {
  const sender = new WebhookSender();
  const suite = { sender } as WebhookStack;
  beforeAll(async () => {
    suite.stack = await startStack({
      extraEnv: { SENDGRID_WEBHOOK_PUBLIC_KEY: sender.sendgridPublicKey, ...extraEnv },
    });
    sender.baseUrl = suite.stack.config.server.publicUrl;
    suite.db = new pg.Client({ connectionString: suite.stack.env.databaseUrl });
    await suite.db.connect();
  });
  afterAll(async () => {
    await suite.db?.end();
    await suite.stack?.close();
  });
  return suite;
}
