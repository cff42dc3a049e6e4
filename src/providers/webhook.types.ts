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
}

export type InboundKeyword = 'STOP' | 'START' | 'HELP';

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
  raw: Record<string, unknown>;
}

export class WebhookSignatureError extends Error {}
export class WebhookFormatError extends Error {}
