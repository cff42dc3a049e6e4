import { createHash } from 'node:crypto';
import type { ReplyKeyword } from '../domain/reply-keywords';

/** Webhook shapes above the vendor formats: what a provider reported, mapped to Herald's vocabulary. */

export interface RawWebhookRequest {
  /** The externally visible URL the provider called (PUBLIC_URL + path + query): what Twilio signs. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The bytes exactly as received: signatures are checked on these, before any parsing. */
  body: Buffer;
}

/** Herald message statuses a provider event can report (CONTRACT.md ranks them). */
export type ReportedStatus =
  'SENT' | 'DELIVERED' | 'UNDELIVERED' | 'FAILED' | 'BOUNCED' | 'READ' | 'OPENED' | 'CLICKED';

export interface ProviderStatusEvent {
  provider: 'twilio' | 'sendgrid';
  /** Unique per provider: a redelivery carries the same key. */
  eventKey: string;
  /** The provider's own name for it (delivered, bounce, open, spamreport…). */
  eventType: string;
  /** The status it reports, or null for events that only have effects (spamreport, unsubscribe, deferred…). */
  status: ReportedStatus | null;
  heraldMessageId?: string;
  providerMessageId?: string;
  // No address: a suppression or opt-out applies to the address of the message the event names (Message.to), never
  // to one read from the event body, so a signed event cannot block an address Herald did not send to.
  occurredAt: Date;
  errorCode?: string;
  errorMessage?: string;
  /** The address cannot receive: add it to the suppression list. */
  suppress?: string;
  /** The person opted out: record an opt-out. */
  optOut?: string;
  raw: Record<string, unknown>;
  /** What Herald did not recognise in it (reported once at intake; the event is stored all the same). */
  unknowns?: UnknownPart[];
}

/**
 * Kinds of vendor input Herald does not know, the `kind` label of herald_webhook_unknown_events_total (a fixed set,
 * so the series stay few): an event type, a status value, a form field, an account event (SendGrid
 * account_status_change), a batch element that is not an event object (`malformed`) or whose key cannot be stored
 * (`unstorable`; both skipped), or an event naming a message sent through another account than the one it came
 * through (`foreign`: a per-config webhook about another config's message, or a service-wide one about a tenant
 * config's; recorded, nothing changed).
 */
export type UnknownKind = 'event' | 'status' | 'field' | 'account' | 'malformed' | 'unstorable' | 'foreign';

export interface UnknownPart {
  kind: UnknownKind;
  /** The vendor's value (event type, status, field name), cut to a log-friendly length. */
  detail: string;
  /** `warn` for what operators must act on (an account suspension); otherwise logged once per provider and kind. */
  level?: 'warn';
}

/** STOP (opt out), START (opt back in), HELP (answer with the help text): see src/domain/reply-keywords.ts. */
export type InboundKeyword = ReplyKeyword;

export interface InboundReply {
  provider: 'twilio';
  eventKey: string;
  channel: 'SMS' | 'WHATSAPP';
  /** E.164, without the whatsapp: prefix. */
  from: string;
  to: string;
  body: string;
  media: string[];
  providerMessageId: string;
  keyword: InboundKeyword | null;
  /** Not an opt-out by Herald's rule, but it mentions an opt-out word: stored flagged for a person to read. */
  possibleOptOut: boolean;
  raw: Record<string, unknown>;
  unknowns?: UnknownPart[];
}

/**
 * Longest provider id Herald takes from a webhook, in UTF-8 bytes: the id an event is keyed by (Twilio MessageSid,
 * SendGrid sg_event_id), the message ids it names (sg_message_id, herald_message_id, our `hm`) and Twilio's From/To.
 * Twilio SIDs are 34 characters (https://www.twilio.com/docs/glossary/what-is-a-sid) and SendGrid's ids short
 * base64 strings; PostgreSQL cannot index a key over ~2,700 bytes (btree row limit), so a longer id is not one a
 * vendor sent: refused (400) when it is the whole request, skipped (counted `unstorable`) inside a SendGrid batch.
 * 256 bytes is allowed; 257 is not.
 */
export const MAX_EVENT_ID_BYTES = 256;

/**
 * Longest event key Herald builds: an id of at most MAX_EVENT_ID_BYTES plus its suffix (`:` and a status cut by
 * shortValue to at most 71 characters; `:inbound`).
 */
export const MAX_EVENT_KEY_BYTES = MAX_EVENT_ID_BYTES + 72;

/** Whether a vendor id is longer than MAX_EVENT_ID_BYTES (UTF-8 bytes). */
export const idTooLong = (id: string): boolean => Buffer.byteLength(id, 'utf8') > MAX_EVENT_ID_BYTES;

/** The id when it fits MAX_EVENT_ID_BYTES, else null. */
export function storableId(id: string): string | null {
  return id.length > 0 && !idTooLong(id) ? id : null;
}

/** A short form of a vendor value for logs and keys: at most 64 characters, else its SHA-256. */
export function shortValue(value: string): string {
  return value.length <= 64 ? value : `sha256:${createHash('sha256').update(value).digest('hex')}`;
}

export class WebhookSignatureError extends Error {}
export class WebhookFormatError extends Error {}

/**
 * The path segment a vendor posts to (`/webhooks/:provider/:kind`, CONTRACT.md): Twilio `status` and `inbound`,
 * SendGrid `events`, and the one SNS endpoint through which SES reports (`/webhooks/aws/sns`).
 */
export type WebhookKind = 'status' | 'inbound' | 'events' | 'sns';

/** What one verified webhook request carried, in Herald's vocabulary. */
export interface ParsedWebhook {
  statuses: ProviderStatusEvent[];
  replies: InboundReply[];
  /** Request-level parts Herald did not recognise (batch elements skipped as malformed or unstorable). */
  unknowns: UnknownPart[];
  /**
   * A subscription the vendor asks Herald to confirm (SNS `SubscriptionConfirmation`): the topic it is for and the
   * URL to GET. Whether to confirm is the caller's decision (configured topics only).
   */
  confirmation?: { topic: string; url: string };
}

/**
 * One per vendor (ARCHITECTURE.md, "Shapes we use"): everything Herald knows of a vendor's webhook format lives in its
 * `<vendor>.webhook.ts`, so the routes and the intake above it never name a vendor. `Secret` is what the vendor signs
 * with for one account (Twilio's auth token, SendGrid's verification key, the SNS topics an account may use).
 */
export interface WebhookParser<Secret = unknown> {
  readonly provider: string;
  /** The path kinds this vendor posts to. */
  readonly kinds: readonly WebhookKind[];
  /**
   * Checks the request against the account's secret, on the bytes as received and before anything is parsed.
   * @throws WebhookSignatureError (answered 403)
   */
  verify(kind: WebhookKind, req: RawWebhookRequest, secret: Secret): Promise<void>;
  /**
   * Parses a verified request.
   * @throws WebhookFormatError (answered 400) when the request as a whole cannot be read; a bad element inside a
   *   batch is skipped and reported in `unknowns` instead.
   */
  parse(kind: WebhookKind, req: RawWebhookRequest, receivedAt: Date): ParsedWebhook;
}
