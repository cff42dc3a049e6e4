import twilio from 'twilio';
import type {
  InboundKeyword,
  InboundReply,
  ProviderStatusEvent,
  RawWebhookRequest,
  ReportedStatus,
} from './webhook.types';
import { WebhookFormatError, WebhookSignatureError } from './webhook.types';

/** Twilio message statuses → Herald statuses. Twilio's own pre-send states all mean "the provider has it" (SENT). */
const STATUS: Record<string, ReportedStatus> = {
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
};

const STOP_WORDS = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT']);
const START_WORDS = new Set(['START', 'YES', 'UNSTOP']);
const HELP_WORDS = new Set(['HELP', 'INFO']);

/** A whole-body keyword, case-insensitive, ignoring surrounding spaces and punctuation. */
export function inboundKeyword(body: string): InboundKeyword | null {
  const word = body
    .trim()
    .replace(/[.!]+$/, '')
    .toUpperCase();
  if (STOP_WORDS.has(word)) return 'STOP';
  if (START_WORDS.has(word)) return 'START';
  if (HELP_WORDS.has(word)) return 'HELP';
  return null;
}

/** Twilio posts form-encoded fields; a repeated field keeps its last value (Twilio sends none repeated). */
export function parseForm(body: Buffer): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(body.toString('utf8')).entries());
}

const header = (req: RawWebhookRequest, name: string) => {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
};

const stripWhatsapp = (address: string) => address.replace(/^whatsapp:/, '');

export type TwilioVerifier = (req: RawWebhookRequest) => Record<string, string>;

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
export function verifyTwilio(req: RawWebhookRequest, authToken: string): Record<string, string> {
  const signature = header(req, 'x-twilio-signature');
  if (!signature) throw new WebhookSignatureError('missing X-Twilio-Signature');
  const params = parseForm(req.body);
  if (!twilio.validateRequest(authToken, signature, req.url, params)) {
    throw new WebhookSignatureError('X-Twilio-Signature does not match');
  }
  return params;
}

export function parseTwilioStatus(
  params: Record<string, string>,
  url: string,
  receivedAt: Date,
): ProviderStatusEvent {
  const sid = params.MessageSid ?? params.SmsSid;
  const twilioStatus = (params.MessageStatus ?? params.SmsStatus ?? '').toLowerCase();
  if (!sid || !twilioStatus) throw new WebhookFormatError('MessageSid and MessageStatus are required');
  const status = STATUS[twilioStatus];
  if (!status) throw new WebhookFormatError(`unknown MessageStatus "${twilioStatus}"`);
  const errorCode = params.ErrorCode || undefined;
  // Our status callback URL carries our message id, so the event finds its message even before SENT is recorded.
  const heraldMessageId = new URL(url).searchParams.get('hm') ?? undefined;
  return {
    provider: 'twilio',
    eventKey: `${sid}:${twilioStatus}`,
    eventType: twilioStatus,
    status,
    heraldMessageId,
    providerMessageId: sid,
    occurredAt: receivedAt,
    errorCode,
    errorMessage: params.ErrorMessage || (errorCode ? `Twilio error ${errorCode}` : undefined),
    // 21610: the recipient replied STOP to this sender; Twilio will refuse every further message.
    optOut: errorCode === '21610' ? '21610' : undefined,
    raw: params,
  };
}

export function parseTwilioInbound(params: Record<string, string>): InboundReply {
  const sid = params.MessageSid ?? params.SmsMessageSid;
  if (!sid || !params.From || !params.To)
    throw new WebhookFormatError('MessageSid, From and To are required');
  const channel = params.From.startsWith('whatsapp:') ? 'WHATSAPP' : 'SMS';
  const count = Number(params.NumMedia ?? 0);
  const media = Array.from(
    { length: Number.isFinite(count) ? Math.min(count, 10) : 0 },
    (_, i) => params[`MediaUrl${i}`],
  ).filter((u): u is string => Boolean(u));
  const body = params.Body ?? '';
  return {
    provider: 'twilio',
    eventKey: `${sid}:inbound`,
    channel,
    from: stripWhatsapp(params.From),
    to: stripWhatsapp(params.To),
    body,
    media,
    providerMessageId: sid,
    keyword: inboundKeyword(body),
    raw: params,
  };
}

/** TwiML for the reply: empty (Twilio handles STOP itself on long codes), or the help text for HELP/INFO. */
export function twimlReply(message?: string): string {
  const response = new twilio.twiml.MessagingResponse();
  if (message) response.message(message);
  return response.toString();
}
