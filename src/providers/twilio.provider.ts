import { AsyncLocalStorage } from 'node:async_hooks';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import type { ChannelProvider, ProviderPrice, SendContext, SendResult, TextPayload } from './provider.types';
import { isRetryableStatus, networkError, parseRetryAfter, ProviderError } from './provider.types';

export interface TwilioOptions {
  mode: 'live' | 'sandbox';
  accountSid: string;
  authToken: string;
  from: string;
  whatsappFrom: string;
  /** Replaces https://api.twilio.com (sandbox emulator, staging emulators); the SDK still builds the request. */
  apiUrl?: string;
  statusCallbackUrl: string;
  timeoutMs: number;
  /**
   * Sockets per host. The SDK's default is 20, so a CRITICAL message could queue inside the SDK behind bulk sends
   * already waiting for a socket, whatever the worker's own lanes do.
   */
  maxSockets?: number;
}

/** Twilio codes that will not succeed on retry (invalid number, not a mobile number, recipient unsubscribed…). */
const PERMANENT_CODES = new Set([21211, 21408, 21610, 21612, 21614, 21617, 21623, 21635, 63003, 63016]);

/**
 * Twilio codes that refuse the ACCOUNT (its credentials or its state), not the message
 * (https://www.twilio.com/docs/api/errors): 20003 "Authenticate" (401: wrong or revoked Account SID / Auth Token),
 * 20005 "Account not active" (suspended or closed), 20008 "Resource not accessible with Test Account Credentials"
 * (test credentials stored as live ones), 10001 "Account is not active". Any 401 is an authentication failure too.
 */
const ACCOUNT_REFUSED_CODES = new Set([10001, 20003, 20005, 20008]);

/**
 * Twilio codes that refuse the config's SENDER (the From number or Messaging Service it sends from), not the message:
 * the account may not send from it, so every message through that config fails the same way while another account,
 * with a sender of its own, may send it. Treated as the config's refusal, like ACCOUNT_REFUSED_CODES (break round
 * b13c, finding 2):
 * - 21606 "The 'From' phone number provided is not a valid message-capable Twilio phone number for this
 *   destination/account" (https://www.twilio.com/docs/api/errors/21606): the number is not the account's, not
 *   message-capable, or (a short code) cannot reach the destination's country. That last cause concerns only some
 *   destinations; failing over is still right (another account's number may reach it), and the config's circuit
 *   counts consecutive refusals only, so a success to another destination closes the count again.
 * - 21659 "'From' is not a Twilio phone number or Short Code country mismatch" (https://www.twilio.com/docs/api/errors/21659)
 * - 21660 "Mismatch between the 'From' number and the account" (https://www.twilio.com/docs/api/errors/21660)
 * - 21212 "Invalid From Number (caller ID)" (https://www.twilio.com/docs/api/errors/21212)
 * - 21701 "The Messaging Service does not exist" (or is not the account's; https://www.twilio.com/docs/api/errors/21701)
 * - 63007 "Twilio could not find a Channel with the specified 'From' address" (WhatsApp: no sender for that From on
 *   this account; https://www.twilio.com/docs/api/errors/63007)
 */
const SENDER_REFUSED_CODES = new Set([21212, 21606, 21659, 21660, 21701, 63007]);

/**
 * The SDK's RestException keeps status and body but drops the response headers, so a 429's Retry-After would be lost.
 * Each send runs in its own async context; the request client notes the header there (safe under concurrency).
 */
const sendContext = new AsyncLocalStorage<{ retryAfter?: unknown }>();

/**
 * The SDK's HTTP client with two additions: it notes Retry-After for the send in progress, and with a base URL it
 * points the SDK at another host by rewriting each request's URI, keeping path, auth and body as built.
 */
class HeraldRequestClient extends twilio.RequestClient {
  constructor(
    private readonly baseUrl: string | undefined,
    timeoutMs: number,
    maxSockets?: number,
  ) {
    super({ timeout: timeoutMs, keepAlive: true, maxSockets, maxTotalSockets: maxSockets });
  }

  override async request<TData>(opts: RequestClient.RequestOptions<TData>) {
    let target = opts.uri;
    if (this.baseUrl) {
      const uri = new URL(opts.uri);
      target = `${this.baseUrl.replace(/\/$/, '')}${uri.pathname}${uri.search}`;
    }
    const response = await super.request<TData>({ ...opts, uri: target });
    const store = sendContext.getStore();
    const headers = response.headers as Record<string, unknown> | undefined;
    if (store && headers) store.retryAfter = headers['retry-after'];
    return response;
  }
}

export function classifyTwilioError(error: unknown, retryAfter?: unknown): ProviderError {
  const network = networkError(error);
  if (network) return network;
  const rest = error as { status?: number; code?: number; message?: string; moreInfo?: string };
  if (typeof rest.status === 'number') {
    const code = rest.code ?? rest.status;
    const accountRefused =
      ACCOUNT_REFUSED_CODES.has(code) || SENDER_REFUSED_CODES.has(code) || rest.status === 401;
    const retryable = !accountRefused && !PERMANENT_CODES.has(code) && isRetryableStatus(rest.status);
    return new ProviderError(rest.message ?? 'Twilio error', String(code), retryable, {
      status: rest.status,
      retryAfterMs: parseRetryAfter(retryAfter),
      invalidAddress: code === 21211 || code === 21614,
      ...(accountRefused ? { accountRefused: true } : {}),
    });
  }
  return new ProviderError((error as Error)?.message ?? 'Twilio error', 'UNKNOWN', true);
}

type TwilioClient = ReturnType<typeof twilio>;

/** A Twilio SDK client with Herald's HTTP client (endpoint override, timeout, no SDK retries). */
export function createTwilioClient(
  options: Pick<TwilioOptions, 'accountSid' | 'authToken' | 'apiUrl' | 'timeoutMs' | 'maxSockets'>,
): TwilioClient {
  return createClient(options);
}

function createClient(
  options: Pick<TwilioOptions, 'accountSid' | 'authToken' | 'apiUrl' | 'timeoutMs' | 'maxSockets'>,
): TwilioClient {
  return twilio(options.accountSid, options.authToken, {
    httpClient: new HeraldRequestClient(options.apiUrl, options.timeoutMs, options.maxSockets),
    autoRetry: false,
  });
}

abstract class TwilioProvider {
  protected readonly client: TwilioClient;
  constructor(protected readonly options: TwilioOptions) {
    this.client = createClient(options);
  }

  get mode() {
    return this.options.mode;
  }

  protected async create(
    to: string,
    from: string,
    payload: TextPayload,
    ctx: SendContext,
  ): Promise<SendResult> {
    const sender = from.startsWith('MG') ? { messagingServiceSid: from } : { from };
    const noted: { retryAfter?: unknown } = {};
    try {
      return await sendContext.run(noted, () => this.createMessage(to, sender, payload, ctx));
    } catch (error) {
      throw classifyTwilioError(error, noted.retryAfter);
    }
  }

  /** Twilio reports the price on the message resource once the carrier has settled it (negative = charged). */
  async fetchPrice(sid: string): Promise<ProviderPrice | undefined> {
    try {
      const message = await this.client.messages(sid).fetch();
      const price = message.price === null || message.price === undefined ? NaN : Number(message.price);
      if (!Number.isFinite(price)) return undefined;
      return { amount: Math.abs(price), currency: (message.priceUnit || 'USD').toUpperCase() };
    } catch (error) {
      throw classifyTwilioError(error);
    }
  }

  private async createMessage(
    to: string,
    sender: { messagingServiceSid: string } | { from: string },
    payload: TextPayload,
    ctx: SendContext,
  ): Promise<SendResult> {
    // A Content API template goes without Body and MediaUrl (Twilio error 63030 for media with a template;
    // https://www.twilio.com/docs/api/errors/63016 "Remove Body and MediaUrl when you send a content template").
    // ContentVariables is a JSON string (https://www.twilio.com/docs/api/errors/21656).
    const content = payload.template
      ? {
          contentSid: payload.template.contentSid,
          contentVariables: payload.template.contentVariables
            ? JSON.stringify(payload.template.contentVariables)
            : undefined,
        }
      : {
          body: payload.body,
          mediaUrl: payload.mediaUrls && payload.mediaUrls.length > 0 ? payload.mediaUrls : undefined,
        };
    const message = await this.client.messages.create({
      to,
      ...sender,
      ...content,
      // Our message id rides along, so status callbacks find their message even before SENT is recorded.
      statusCallback: `${this.options.statusCallbackUrl}?hm=${encodeURIComponent(ctx.messageId)}`,
    });
    const segments = Number(message.numSegments);
    return { providerMessageId: message.sid, segments: Number.isFinite(segments) ? segments : undefined };
  }
}

export class TwilioSmsProvider extends TwilioProvider implements ChannelProvider<'SMS'> {
  readonly id = 'twilio-sms' as const;
  readonly channel = 'SMS' as const;

  send(payload: TextPayload, ctx: SendContext): Promise<SendResult> {
    return this.create(payload.to, this.options.from, payload, ctx);
  }
}

export class TwilioWhatsappProvider extends TwilioProvider implements ChannelProvider<'WHATSAPP'> {
  readonly id = 'twilio-whatsapp' as const;
  readonly channel = 'WHATSAPP' as const;

  /** TWILIO_WHATSAPP_FROM as E.164: the number whose 24-hour windows decide what may be sent free-form. */
  get sender(): string {
    return this.options.whatsappFrom.replace(/^whatsapp:/, '');
  }

  send(payload: TextPayload, ctx: SendContext): Promise<SendResult> {
    const whatsapp = (n: string) => (n.startsWith('whatsapp:') ? n : `whatsapp:${n}`);
    return this.create(whatsapp(payload.to), whatsapp(this.options.whatsappFrom), payload, ctx);
  }
}
