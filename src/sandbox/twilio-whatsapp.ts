import { randomBytes } from 'node:crypto';
import twilio from 'twilio';

/** A refusal the emulated Twilio answers with: HTTP status, Twilio error code and Twilio's message. */
export interface TwilioRefusal {
  status: number;
  code: number;
  message: string;
}

type Form = Record<string, string | string[] | undefined>;

/** What Herald's inbound webhook answered when the emulator forwarded a customer message. */
export interface ForwardedInbound {
  url: string;
  status: number | 'error';
}

/** A customer message received by the emulated Twilio. */
export interface CustomerMessage {
  messageSid: string;
  from: string;
  to: string;
  body: string;
  at: string;
  forwarded: ForwardedInbound | null;
}

/**
 * WhatsApp's customer service window: free-form messages only within 24 hours of the customer's last message to the
 * sender (https://www.twilio.com/docs/whatsapp/key-concepts#the-24-hour-window-or-24-hour-session).
 */
const WINDOW_MS = 24 * 60 * 60 * 1000;

/** Twilio error 63016's message (https://www.twilio.com/docs/api/errors/63016). */
export const OUTSIDE_WINDOW_MESSAGE =
  'Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template.';

const strip = (address: string) => address.trim().replace(/^whatsapp:/, '');
const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/**
 * Twilio's checks of a Content API send, as its error pages describe them:
 * - 21654: ContentVariables without ContentSid (https://www.twilio.com/docs/api/errors/21654)
 * - 21655: ContentSid not matching ^HX[0-9a-fA-F]{32}$ (https://www.twilio.com/docs/api/errors/21655)
 * - 21656: ContentVariables not a JSON string of key-value pairs, a value null or empty, or a value with a newline,
 *   a tab or more than four consecutive spaces; more than 100 pairs
 *   (https://www.twilio.com/docs/api/errors/21656, https://www.twilio.com/docs/content/send-templates-created-with-the-content-template-builder)
 * - 21658: a variable value over 1,600 characters (https://www.twilio.com/docs/api/errors/21658)
 */
export function contentRefusal(body: Form): TwilioRefusal | undefined {
  const sid = first(body.ContentSid);
  const variables = first(body.ContentVariables);
  if (variables !== undefined && !sid)
    return {
      status: 400,
      code: 21654,
      message: 'A ContentSid must be specified if ContentVariables are provided in the request.',
    };
  if (sid === undefined) return undefined;
  if (!/^HX[0-9a-fA-F]{32}$/.test(sid))
    return { status: 400, code: 21655, message: 'The ContentSid is Invalid' };
  if (variables === undefined) return undefined;
  const invalid = { status: 400, code: 21656, message: 'The ContentVariables Parameter is invalid' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(variables);
  } catch {
    return invalid;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return invalid;
  const values = Object.values(parsed as Record<string, unknown>);
  if (values.length > 100) return invalid;
  for (const value of values) {
    if (typeof value !== 'string' || value === '' || /[\r\n\t]| {5}/.test(value)) return invalid;
    if (value.length > 1_600)
      return { status: 400, code: 21658, message: 'Parameter exceeded character limit' };
  }
  return undefined;
}

/**
 * The emulated Twilio's WhatsApp side: it remembers each customer's last message to each sender, refuses a
 * free-form WhatsApp send outside that 24-hour window (error 63016) and lets a Content API template through at any
 * time. Customer messages come in through the control API (`POST /__emulator/twilio/inbound`), as they would reach
 * Twilio from a phone, and are forwarded to Herald's inbound webhook signed as Twilio signs.
 */
export class WhatsappEmulation {
  private readonly lastMessage = new Map<string, number>();
  readonly received: CustomerMessage[] = [];

  constructor(
    private readonly account: { accountSid: string; authToken: string },
    /** Herald's inbound webhook (POST /webhooks/twilio/inbound); without it customer messages are only recorded. */
    private readonly inboundUrl?: string,
  ) {}

  /**
   * Records a customer's message (`From` → `To`, whatsapp: numbers open a window) and forwards it to Herald.
   * @param message.at when the customer wrote (default now): a test may open a window that has already closed
   * @param route the webhook and account of a tenant's own number (`To`; a number with no webhook: not forwarded);
   *   default: the primary account's
   */
  async customerMessage(
    message: {
      From: string;
      To: string;
      Body?: string;
      at?: Date;
    },
    route?: { url: string | undefined; account: { accountSid: string; authToken: string } },
  ): Promise<CustomerMessage> {
    const at = message.at ?? new Date();
    const key = `${strip(message.From)}|${strip(message.To)}`;
    this.lastMessage.set(key, Math.max(this.lastMessage.get(key) ?? 0, at.getTime()));
    const messageSid = `SM${randomBytes(16).toString('hex')}`;
    const record: CustomerMessage = {
      messageSid,
      from: message.From,
      to: message.To,
      body: message.Body ?? '',
      at: at.toISOString(),
      forwarded: null,
    };
    const url = route ? route.url : this.inboundUrl;
    if (url) record.forwarded = await this.forward(url, route?.account ?? this.account, message, messageSid);
    this.received.push(record);
    return record;
  }

  /** Posts the message as Twilio does, from the account that owns the number and signed with its auth token. */
  private async forward(
    url: string,
    account: { accountSid: string; authToken: string },
    message: { From: string; To: string; Body?: string },
    messageSid: string,
  ): Promise<ForwardedInbound> {
    const whatsapp = message.From.startsWith('whatsapp:');
    const params: Record<string, string> = {
      MessageSid: messageSid,
      SmsMessageSid: messageSid,
      SmsSid: messageSid,
      AccountSid: account.accountSid,
      From: message.From,
      To: message.To,
      Body: message.Body ?? '',
      NumMedia: '0',
      NumSegments: '1',
      ApiVersion: '2010-04-01',
      ...(whatsapp ? { WaId: strip(message.From).replace(/^\+/, ''), MessageType: 'text' } : {}),
    };
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': twilio.getExpectedTwilioSignature(account.authToken, url, params),
        },
        body: new URLSearchParams(params).toString(),
      });
      return { url, status: response.status };
    } catch {
      return { url, status: 'error' };
    }
  }

  /** Twilio's refusal of a WhatsApp message request, or undefined when it would accept it. */
  refusal(body: Form, now = Date.now()): TwilioRefusal | undefined {
    const to = String(first(body.To) ?? '');
    const from = String(first(body.From) ?? '');
    if (!to.startsWith('whatsapp:') || first(body.ContentSid) !== undefined) return undefined;
    const last = this.lastMessage.get(`${strip(to)}|${strip(from)}`);
    if (last !== undefined && last + WINDOW_MS > now) return undefined;
    return { status: 400, code: 63016, message: OUTSIDE_WINDOW_MESSAGE };
  }
}
