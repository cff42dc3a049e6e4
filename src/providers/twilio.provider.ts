import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import type { ChannelProvider, SendContext, SendResult, TextPayload } from './provider.types';
import { isRetryableStatus, networkError, ProviderError } from './provider.types';

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
}

/** Twilio codes that will not succeed on retry (invalid number, not a mobile number, recipient unsubscribed…). */
const PERMANENT_CODES = new Set([21211, 21408, 21610, 21612, 21614, 21617, 21635, 63003, 63016]);

/** Points the real SDK at another host by rewriting each request's URI, keeping path, auth and body as built. */
class RedirectingRequestClient extends twilio.RequestClient {
  constructor(
    private readonly baseUrl: string,
    timeoutMs: number,
  ) {
    super({ timeout: timeoutMs });
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>) {
    const uri = new URL(opts.uri);
    const target = `${this.baseUrl.replace(/\/$/, '')}${uri.pathname}${uri.search}`;
    return super.request<TData>({ ...opts, uri: target });
  }
}

export function classifyTwilioError(error: unknown): ProviderError {
  const network = networkError(error);
  if (network) return network;
  const rest = error as { status?: number; code?: number; message?: string; moreInfo?: string };
  if (typeof rest.status === 'number') {
    const code = rest.code ?? rest.status;
    const retryable = !PERMANENT_CODES.has(code) && isRetryableStatus(rest.status);
    return new ProviderError(rest.message ?? 'Twilio error', String(code), retryable, {
      status: rest.status,
      invalidAddress: code === 21211 || code === 21614,
    });
  }
  return new ProviderError((error as Error)?.message ?? 'Twilio error', 'UNKNOWN', true);
}

type TwilioClient = ReturnType<typeof twilio>;

function createClient(options: TwilioOptions): TwilioClient {
  return twilio(options.accountSid, options.authToken, {
    httpClient: options.apiUrl
      ? new RedirectingRequestClient(options.apiUrl, options.timeoutMs)
      : new twilio.RequestClient({ timeout: options.timeoutMs }),
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
    try {
      const message = await this.client.messages.create({
        to,
        ...sender,
        body: payload.body,
        mediaUrl: payload.mediaUrls && payload.mediaUrls.length > 0 ? payload.mediaUrls : undefined,
        // Our message id rides along, so status callbacks find their message even before SENT is recorded.
        statusCallback: `${this.options.statusCallbackUrl}?hm=${encodeURIComponent(ctx.messageId)}`,
      });
      const segments = Number(message.numSegments);
      return { providerMessageId: message.sid, segments: Number.isFinite(segments) ? segments : undefined };
    } catch (error) {
      throw classifyTwilioError(error);
    }
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

  send(payload: TextPayload, ctx: SendContext): Promise<SendResult> {
    const whatsapp = (n: string) => (n.startsWith('whatsapp:') ? n : `whatsapp:${n}`);
    return this.create(whatsapp(payload.to), whatsapp(this.options.whatsappFrom), payload, ctx);
  }
}
