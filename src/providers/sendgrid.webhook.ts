import { createHash, createPublicKey, verify } from 'node:crypto';
import { SENDGRID_MESSAGE_ID_ARG } from './sendgrid.provider';
import type { ProviderStatusEvent, RawWebhookRequest, ReportedStatus, UnknownPart } from './webhook.types';
import {
  idTooLong,
  MAX_EVENT_ID_BYTES,
  shortValue,
  storableId,
  WebhookFormatError,
  WebhookSignatureError,
} from './webhook.types';

export const SENDGRID_SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const SENDGRID_TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

/**
 * SendGrid event types (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event) → Herald
 * statuses; null for events that only have effects. Matched exactly: SendGrid sends them lowercase, and a variant
 * (`Delivered`) or a new type (`machine_opened`) is stored, counted as unknown and ignored for status.
 */
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
  // About the account, not a message: `type` is compliance_suspend, compliance_deactivate, compliance_ban or
  // reactivate (same page). Stored and surfaced at warn; a suspended account sends nothing.
  account_status_change: null,
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

/**
 * Whether `key` (base64 DER or PEM, as SendGrid's "Signed Event Webhook" settings show it) is an EC public key on
 * P-256, the curve SendGrid signs with (docs.sendgrid.com, "Getting Started with the Event Webhook Security
 * Features": ECDSA, prime256v1). Returns a reason when it is not, undefined when it is.
 */
export function sendgridPublicKeyProblem(key: string): string | undefined {
  try {
    const parsed = createPublicKey(toPem(key));
    if (parsed.asymmetricKeyType !== 'ec' || parsed.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      return 'must be an ECDSA P-256 public key (SendGrid signs its events with one)';
    return undefined;
  } catch {
    return 'must be the base64 (DER) or PEM public key SendGrid shows for its signed event webhook';
  }
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
  const key = createPublicKey(toPem(settings.publicKey));
  return (req) => {
    const signature = req.headers[SENDGRID_SIGNATURE_HEADER];
    const timestamp = req.headers[SENDGRID_TIMESTAMP_HEADER];
    if (typeof signature !== 'string' || typeof timestamp !== 'string')
      throw new WebhookSignatureError('missing signature headers');
    let valid = false;
    try {
      // What @sendgrid/eventwebhook checks (ECDSA P-256, SHA-256, DER signature in base64, over timestamp + body),
      // done with node:crypto on the bytes as received: that helper decodes the body as UTF-8 first, so a signed
      // body with invalid UTF-8 failed as a bad signature (403) instead of as a malformed body (400).
      valid = verify(
        'sha256',
        Buffer.concat([Buffer.from(timestamp, 'utf8'), req.body]),
        key,
        Buffer.from(signature, 'base64'),
      );
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

const text = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;

/** Latest instant a Date holds (ECMA-262 §21.4.1.22), in seconds: a timestamp beyond it is not a time. */
const MAX_UNIX_SECONDS = 8.64e12;

const isEventObject = (value: unknown): value is SendgridEvent =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The key an event is stored under: its sg_event_id (null when longer than MAX_EVENT_ID_BYTES: not storable), else
 * `<sg_message_id>:<event>:<timestamp>` when those are plain values, else a SHA-256 of the event as sent.
 */
function eventKeyOf(event: SendgridEvent): string | null {
  if (typeof event.sg_event_id === 'string' && event.sg_event_id !== '') return storableId(event.sg_event_id);
  const fallback =
    typeof event.sg_message_id === 'string' &&
    typeof event.event === 'string' &&
    typeof event.timestamp === 'number' &&
    Number.isFinite(event.timestamp)
      ? `${event.sg_message_id}:${event.event}:${event.timestamp}`
      : null;
  return fallback && storableId(fallback)
    ? fallback
    : `sha256:${createHash('sha256').update(JSON.stringify(event)).digest('hex')}`;
}

/**
 * One SendGrid event, already decoded (also used to re-read stored events; `receivedAt` stands in for a missing or
 * impossible timestamp). Tolerant of what SendGrid adds: an unknown type has no status and is reported in
 * `unknowns`, fields of an unexpected type are ignored. Throws WebhookFormatError only when the element is not an
 * object, or its sg_event_id, sg_message_id (the part before the first dot) or herald_message_id is longer than
 * MAX_EVENT_ID_BYTES (256 bytes), which cannot be stored.
 */
export function parseSendgridEvent(
  event: unknown,
  index = 0,
  receivedAt: Date = new Date(),
): ProviderStatusEvent {
  if (!isEventObject(event)) throw new WebhookFormatError(`[${index}]: an event must be a JSON object`);
  const eventKey = eventKeyOf(event);
  if (!eventKey)
    throw new WebhookFormatError(`[${index}].sg_event_id: longer than ${MAX_EVENT_ID_BYTES} bytes`);
  // The message ids an event names are indexed when it is applied (MAX_EVENT_ID_BYTES): too long is not SendGrid's.
  const tooLong = (['sg_message_id', SENDGRID_MESSAGE_ID_ARG] as const).find((name) => {
    const value = event[name];
    return typeof value === 'string' && idTooLong(name === 'sg_message_id' ? value.split('.')[0] : value);
  });
  if (tooLong) throw new WebhookFormatError(`[${index}].${tooLong}: longer than ${MAX_EVENT_ID_BYTES} bytes`);
  const type = typeof event.event === 'string' ? event.event : '';
  const known = Object.hasOwn(STATUS, type);
  const unknowns: UnknownPart[] = [];
  if (!known) unknowns.push({ kind: 'event', detail: shortValue(type) || '(none)' });
  if (type === 'account_status_change')
    unknowns.push({ kind: 'account', detail: shortValue(text(event.type) ?? '(no type)'), level: 'warn' });
  const seconds = event.timestamp;
  const occurredAt =
    typeof seconds === 'number' && Math.abs(seconds) <= MAX_UNIX_SECONDS
      ? new Date(seconds * 1000)
      : receivedAt;
  // sg_message_id is "<X-Message-Id>.<filter…>": the part before the first dot is what the send returned.
  const providerMessageId =
    typeof event.sg_message_id === 'string' ? event.sg_message_id.split('.')[0] || undefined : undefined;
  const heraldMessageId =
    typeof event[SENDGRID_MESSAGE_ID_ARG] === 'string' ? event[SENDGRID_MESSAGE_ID_ARG] : undefined;
  const reason = text(event.reason);
  const addressBad =
    type === 'bounce' || type === 'spamreport' || (type === 'dropped' && ADDRESS_DROP.test(reason ?? ''));
  const failure = type === 'bounce' || type === 'dropped';
  return {
    provider: 'sendgrid',
    eventKey,
    eventType: type,
    status: known ? STATUS[type] : null,
    heraldMessageId,
    providerMessageId,
    occurredAt,
    errorCode: failure ? (text(event.status) ?? type) : undefined,
    errorMessage: failure ? (reason ?? type) : undefined,
    suppress: addressBad ? type : undefined,
    optOut: type === 'unsubscribe' || type === 'group_unsubscribe' ? type : undefined,
    raw: event,
    unknowns,
  };
}

export interface SendgridBatch {
  events: ProviderStatusEvent[];
  /** Elements left out, not stored: not an object (`malformed`) or an id too long to store (`unstorable`). */
  skipped: UnknownPart[];
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The whole body: a JSON array of events (RFC 8259 §8.1: UTF-8). 400 when it is not UTF-8 JSON, not an array, or
 * when no element of a non-empty batch can be stored; otherwise one bad element is skipped and reported, so it never
 * costs the others (SendGrid retries a refused batch and then drops all of it).
 */
export function parseSendgridEvents(body: Buffer, receivedAt: Date = new Date()): SendgridBatch {
  let events: unknown;
  try {
    events = JSON.parse(strictUtf8.decode(body));
  } catch {
    throw new WebhookFormatError('body is not UTF-8 JSON');
  }
  if (!Array.isArray(events)) throw new WebhookFormatError('body must be a JSON array of events');
  const batch: SendgridBatch = { events: [], skipped: [] };
  let firstError: WebhookFormatError | undefined;
  events.forEach((event: unknown, i) => {
    try {
      batch.events.push(parseSendgridEvent(event, i, receivedAt));
    } catch (error) {
      if (!(error instanceof WebhookFormatError)) throw error;
      firstError ??= error;
      batch.skipped.push({
        kind: isEventObject(event) ? 'unstorable' : 'malformed',
        detail: error.message.slice(0, 100),
      });
    }
  });
  if (batch.events.length === 0 && firstError) throw firstError;
  return batch;
}
