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

/** ECDSA P-256 over timestamp + raw body, with SendGrid's own helper. Without a key every call is refused. */
export function sendgridVerifier(publicKey: string | undefined): SendgridVerifier {
  const key = publicKey ? webhook.convertPublicKeyToECDSA(toPem(publicKey)) : undefined;
  return (req) => {
    if (!key) throw new WebhookSignatureError('SENDGRID_WEBHOOK_PUBLIC_KEY is not configured');
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
    address: event.email?.toLowerCase(),
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
