import { EventWebhook } from '@sendgrid/eventwebhook';
import { SENDGRID_MESSAGE_ID_ARG } from './sendgrid.provider';
import type { ProviderStatusEvent, RawWebhookRequest, ReportedStatus } from './webhook.types';
import { WebhookFormatError, WebhookSignatureError } from './webhook.types';

export const SENDGRID_SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const SENDGRID_TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

const STATUS: Record<string, ReportedStatus | null> = {
  processed: 'SENT',
  deferred: null,
  delivered: 'DELIVERED',
  bounce: 'BOUNCED',
  dropped: 'FAILED',
  open: 'OPENED',
  click: 'CLICKED',
  spamreport: null,
  unsubscribe: null,
  group_unsubscribe: null,
  group_resubscribe: null,
};

/** Drop reasons that say the address itself is bad (rather than, say, the content). */
const ADDRESS_DROP =
  /^invalid$|invalid (email|address|recipient)|bounced address|spam reporting address|unsubscribed address/i;

export interface SendgridEvent {
  email?: string;
  timestamp?: number;
  event?: string;
  sg_event_id?: string;
  sg_message_id?: string;
  reason?: string;
  status?: string;
  type?: string;
  [key: string]: unknown;
}

const webhook = new EventWebhook();

/** SendGrid shows the key as base64 DER; PEM is accepted too. */
function toPem(key: string): string {
  if (key.includes('BEGIN PUBLIC KEY')) return key;
  const body =
    key
      .replace(/\s+/g, '')
      .match(/.{1,64}/g)
      ?.join('\n') ?? '';
  return `-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----`;
}

export type SendgridVerifier = (req: RawWebhookRequest) => void;

export interface SendgridVerification {
  /** The Event Webhook verification key, base64 DER (as SendGrid shows it) or PEM. */
  publicKey: string;
  /** Oldest accepted X-Twilio-Email-Event-Webhook-Timestamp, in seconds before now. */
  maxAgeSeconds: number;
  /** How far ahead of now a timestamp may be (clock skew), in seconds. */
  maxSkewSeconds: number;
}

/** Seconds since the epoch, as SendGrid sends the timestamp header; anything else is not a timestamp. */
const UNIX_SECONDS = /^\d{1,12}$/;

/**
 * ECDSA P-256 over timestamp + raw body, with SendGrid's own helper, and a signing time inside the window: a
 * captured request replayed later (a bounce that suppresses the address again) is refused. SendGrid retries a failed
 * POST for 24 hours (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook),
 * so the window must be wider than that. `now` is wall-clock milliseconds: the window compares with the sender's
 * clock, not Herald's business clock. Throws WebhookSignatureError (403) for a missing, bad or out-of-window signature.
 */
export function sendgridVerifier(
  settings: SendgridVerification,
  now: () => number = Date.now,
): SendgridVerifier {
  const key = webhook.convertPublicKeyToECDSA(toPem(settings.publicKey));
  return (req) => {
    const signature = req.headers[SENDGRID_SIGNATURE_HEADER];
    const timestamp = req.headers[SENDGRID_TIMESTAMP_HEADER];
    if (typeof signature !== 'string' || typeof timestamp !== 'string')
      throw new WebhookSignatureError('missing signature headers');
    let valid = false;
    try {
      valid = webhook.verifySignature(key, req.body.toString('utf8'), signature, timestamp);
    } catch {
      valid = false;
    }
    if (!valid) throw new WebhookSignatureError('signature does not match');
    if (!UNIX_SECONDS.test(timestamp)) throw new WebhookSignatureError('timestamp is not Unix seconds');
    const age = Math.floor(now() / 1000) - Number(timestamp);
    if (age > settings.maxAgeSeconds)
      throw new WebhookSignatureError(`signed ${age} s ago, beyond the ${settings.maxAgeSeconds} s window`);
    if (-age > settings.maxSkewSeconds)
      throw new WebhookSignatureError(
        `signed ${-age} s in the future, beyond ${settings.maxSkewSeconds} s of skew`,
      );
  };
}

/** One SendGrid event, already decoded (also used to re-read stored events). */
export function parseSendgridEvent(event: SendgridEvent, index = 0): ProviderStatusEvent {
  if (!event || typeof event.event !== 'string' || !(event.event in STATUS)) {
    throw new WebhookFormatError(`[${index}].event: unknown or missing event type`);
  }
  const type = event.event;
  const timestamp = typeof event.timestamp === 'number' ? event.timestamp : Math.floor(Date.now() / 1000);
  // sg_message_id is "<X-Message-Id>.<filter…>": the part before the first dot is what the send returned.
  const providerMessageId = event.sg_message_id?.split('.')[0];
  const eventKey = event.sg_event_id ?? `${event.sg_message_id ?? ''}:${type}:${timestamp}`;
  const heraldMessageId =
    typeof event[SENDGRID_MESSAGE_ID_ARG] === 'string' ? event[SENDGRID_MESSAGE_ID_ARG] : undefined;
  const addressBad =
    type === 'bounce' ||
    type === 'spamreport' ||
    (type === 'dropped' && ADDRESS_DROP.test(event.reason ?? ''));
  const failure = type === 'bounce' || type === 'dropped';
  return {
    provider: 'sendgrid',
    eventKey,
    eventType: type,
    status: STATUS[type] ?? null,
    heraldMessageId,
    providerMessageId,
    occurredAt: new Date(timestamp * 1000),
    errorCode: failure ? (event.status ?? type) : undefined,
    errorMessage: failure ? (event.reason ?? type) : undefined,
    suppress: addressBad ? type : undefined,
    optOut: type === 'unsubscribe' || type === 'group_unsubscribe' ? type : undefined,
    raw: event,
  };
}

/** The whole body: a JSON array of events. One malformed event rejects the batch (400), so nothing is half-stored. */
export function parseSendgridEvents(body: Buffer): ProviderStatusEvent[] {
  let events: unknown;
  try {
    events = JSON.parse(body.toString('utf8'));
  } catch {
    throw new WebhookFormatError('body is not JSON');
  }
  if (!Array.isArray(events)) throw new WebhookFormatError('body must be a JSON array of events');
  return (events as SendgridEvent[]).map((event, i) => parseSendgridEvent(event, i));
}
