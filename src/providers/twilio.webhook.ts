import twilio from 'twilio';
import { classifyReply } from '../domain/reply-keywords';
import type {
  InboundReply,
  ProviderStatusEvent,
  RawWebhookRequest,
  ReportedStatus,
  UnknownPart,
} from './webhook.types';
import {
  MAX_EVENT_ID_BYTES,
  shortValue,
  storableId,
  WebhookFormatError,
  WebhookSignatureError,
} from './webhook.types';

/**
 * Twilio message statuses → Herald statuses, from Twilio's list
 * (https://www.twilio.com/docs/messaging/api/message-resource#message-status-values). Twilio's own pre-send states
 * all mean "the provider has it" (SENT). `receiving`/`received` belong to inbound messages and `partially_delivered`
 * to group messages: documented, but they say nothing about a message Herald sent (null: kept in its history only).
 * Any other value is recorded, counted as unknown and ignored for status: Twilio adds statuses without notice.
 */
const STATUS: Record<string, ReportedStatus | null> = {
  accepted: 'SENT',
  scheduled: 'SENT',
  queued: 'SENT',
  sending: 'SENT',
  sent: 'SENT',
  delivered: 'DELIVERED',
  undelivered: 'UNDELIVERED',
  failed: 'FAILED',
  read: 'READ',
  canceled: 'FAILED',
  receiving: null,
  received: null,
  partially_delivered: null,
};

/**
 * Form fields Twilio documents for messaging webhooks (incoming message and status callback parameters:
 * https://www.twilio.com/docs/messaging/guides/webhook-request, https://www.twilio.com/docs/messaging/guides/track-outbound-message-status,
 * WhatsApp: https://www.twilio.com/docs/whatsapp/api#incoming-message-webhook-parameters). Any other field is kept
 * in the stored event and counted as unknown (`field`): it tells operators Twilio added something.
 */
const KNOWN_FIELD =
  /^(MessageSid|SmsSid|SmsMessageSid|AccountSid|MessagingServiceSid|From|To|Body|NumMedia|NumSegments|MediaContentType\d+|MediaUrl\d+|(From|To)(City|State|Zip|Country)|ApiVersion|MessageStatus|SmsStatus|ErrorCode|ErrorMessage|EventType|RawDlrDoneDate|Channel(ToAddress|Prefix|InstallSid|StatusMessage|Metadata)|StructuredMessage|ProfileName|WaId|Forwarded|FrequentlyForwarded|ButtonText|ButtonPayload|Latitude|Longitude|Address|Label|MessageType|Referral\w*|OriginalRepliedMessage(Sender|Sid)|ReplyToMessageSid|DestinationCountryCode|SmsStatusCallback|Price|PriceUnit)$/;

/** Form fields as posted: a field sent more than once keeps every value, in order (a null-prototype record). */
export type TwilioForm = Record<string, string | string[]>;

/**
 * Twilio posts form-encoded fields and may repeat one (`MessagingBinding.Address`); every value is kept because the
 * signature covers them all (twilio.validateRequest takes arrays).
 */
export function parseForm(body: Buffer): TwilioForm {
  const form = Object.create(null) as TwilioForm;
  for (const [key, value] of new URLSearchParams(body.toString('utf8'))) {
    const seen = form[key];
    form[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return form;
}

/** The first value of a field (a repeated field Herald reads is read once). */
export function field(params: TwilioForm, name: string): string | undefined {
  const value = Object.hasOwn(params, name) ? params[name] : undefined;
  return Array.isArray(value) ? value[0] : value;
}

/** Fields Twilio does not document for messaging webhooks (see KNOWN_FIELD). */
export function unknownFields(params: TwilioForm): UnknownPart[] {
  return Object.keys(params)
    .filter((key) => !KNOWN_FIELD.test(key))
    .map((key) => ({ kind: 'field' as const, detail: shortValue(key) }));
}

/** The SID an event is keyed by; 400 when missing or longer than an id can be (MAX_EVENT_ID_BYTES). */
function sidOf(params: TwilioForm, ...names: string[]): string {
  const sid = names.map((name) => field(params, name)).find(Boolean);
  if (!sid) throw new WebhookFormatError(`${names[0]} is required`);
  if (!storableId(sid))
    throw new WebhookFormatError(`${names[0]} is longer than ${MAX_EVENT_ID_BYTES} bytes`);
  return sid;
}

const header = (req: RawWebhookRequest, name: string) => {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
};

const stripWhatsapp = (address: string) => address.replace(/^whatsapp:/, '');

export type TwilioVerifier = (req: RawWebhookRequest) => TwilioForm;

/**
 * The verifier for one auth token; returns the verified form fields. X-Twilio-Signature carries no timestamp
 * (https://www.twilio.com/docs/usage/webhooks/webhooks-security), so no age window applies: a replay is absorbed
 * by the event key (MessageSid + status) instead.
 */
export const twilioVerifier =
  (authToken: string): TwilioVerifier =>
  (req) =>
    verifyTwilio(req, authToken);

/** Verifies X-Twilio-Signature over the exact URL and the posted fields, with Twilio's own helper. */
export function verifyTwilio(req: RawWebhookRequest, authToken: string): TwilioForm {
  const signature = header(req, 'x-twilio-signature');
  if (!signature) throw new WebhookSignatureError('missing X-Twilio-Signature');
  const params = parseForm(req.body);
  // The SDK's type says strings, its code takes arrays (toFormUrlEncodedParam sorts and joins their values).
  if (!twilio.validateRequest(authToken, signature, req.url, params as Record<string, string>)) {
    throw new WebhookSignatureError('X-Twilio-Signature does not match');
  }
  return params;
}

/**
 * A status callback. Only MessageSid is required (400 without it, or when it is too long to key by); an unknown or
 * missing MessageStatus is kept with no status and reported in `unknowns`. Keyed by MessageSid + status.
 */
export function parseTwilioStatus(params: TwilioForm, url: string, receivedAt: Date): ProviderStatusEvent {
  const sid = sidOf(params, 'MessageSid', 'SmsSid');
  const twilioStatus = (field(params, 'MessageStatus') ?? field(params, 'SmsStatus') ?? '').toLowerCase();
  const known = Object.hasOwn(STATUS, twilioStatus);
  const unknowns = unknownFields(params);
  if (!known) unknowns.unshift({ kind: 'status', detail: shortValue(twilioStatus) || '(none)' });
  const errorCode = field(params, 'ErrorCode') || undefined;
  // Our status callback URL carries our message id, so the event finds its message even before SENT is recorded.
  const heraldMessageId = new URL(url).searchParams.get('hm') ?? undefined;
  return {
    provider: 'twilio',
    eventKey: `${sid}:${shortValue(twilioStatus)}`,
    eventType: twilioStatus,
    status: known ? STATUS[twilioStatus] : null,
    heraldMessageId,
    providerMessageId: sid,
    occurredAt: receivedAt,
    errorCode,
    errorMessage: field(params, 'ErrorMessage') || (errorCode ? `Twilio error ${errorCode}` : undefined),
    // 21610: the recipient replied STOP to this sender; Twilio will refuse every further message.
    optOut: errorCode === '21610' ? '21610' : undefined,
    raw: params,
    unknowns,
  };
}

/** An incoming message: MessageSid, From and To are required (400), everything else is optional. */
export function parseTwilioInbound(params: TwilioForm): InboundReply {
  const sid = sidOf(params, 'MessageSid', 'SmsMessageSid');
  const from = field(params, 'From');
  const to = field(params, 'To');
  if (!from || !to) throw new WebhookFormatError('MessageSid, From and To are required');
  const channel = from.startsWith('whatsapp:') ? 'WHATSAPP' : 'SMS';
  const count = Number(field(params, 'NumMedia') ?? 0);
  const media = Array.from(
    { length: Number.isFinite(count) ? Math.max(0, Math.min(count, 10)) : 0 },
    (_, i) => field(params, `MediaUrl${i}`),
  ).filter((u): u is string => Boolean(u));
  const body = field(params, 'Body') ?? '';
  // Herald's opt-out rule (src/domain/reply-keywords.ts, with its sources): Twilio itself blocks only a reply that is
  // exactly one of its keywords; Herald also honours "Opt out", "STOP." or "stop please" and flags other mentions.
  const { keyword, possibleOptOut } = classifyReply(body);
  return {
    provider: 'twilio',
    eventKey: `${sid}:inbound`,
    channel,
    from: stripWhatsapp(from),
    to: stripWhatsapp(to),
    body,
    media,
    providerMessageId: sid,
    keyword,
    possibleOptOut,
    raw: params,
    unknowns: unknownFields(params),
  };
}

/** TwiML for the reply: empty (Twilio handles STOP itself on long codes), or the help text for HELP/INFO. */
export function twimlReply(message?: string): string {
  const response = new twilio.twiml.MessagingResponse();
  if (message) response.message(message);
  return response.toString();
}
