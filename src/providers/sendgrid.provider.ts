import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import type { ChannelProvider, EmailPayload, SendContext, SendResult } from './provider.types';
import { isRetryableStatus, networkError, parseRetryAfter, ProviderError } from './provider.types';

export interface SendgridOptions {
  mode: 'live' | 'sandbox';
  apiKey: string;
  from: string;
  /** Replaces https://api.sendgrid.com (sandbox emulator, staging emulators). */
  apiUrl?: string;
  timeoutMs: number;
}

/** The custom arg that carries our message id, so SendGrid events find their message. */
export const SENDGRID_MESSAGE_ID_ARG = 'herald_message_id';

/**
 * SendGrid v3 statuses that refuse the ACCOUNT, not the message (https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/responses):
 * 401 "You do not have authorization to make the request" (API key missing, wrong or revoked); 403 "Forbidden" (the
 * key lacks the mail.send scope, the account is suspended, or the from address is not a verified sender of the
 * account). Another account may send the message.
 */
const ACCOUNT_REFUSED_STATUSES = new Set([401, 403]);

export function classifySendgridError(error: unknown): ProviderError {
  const network = networkError(error);
  if (network) return network;
  const response = error as {
    code?: number;
    message?: string;
    response?: {
      body?: { errors?: { message?: string; field?: string }[] };
      headers?: Record<string, unknown>;
    };
  };
  if (typeof response.code === 'number') {
    const detail = response.response?.body?.errors?.map((e) => e.message).join('; ');
    const accountRefused = ACCOUNT_REFUSED_STATUSES.has(response.code);
    return new ProviderError(
      detail || response.message || 'SendGrid error',
      String(response.code),
      !accountRefused && isRetryableStatus(response.code),
      {
        status: response.code,
        retryAfterMs: parseRetryAfter(response.response?.headers?.['retry-after']),
        ...(accountRefused ? { accountRefused: true } : {}),
      },
    );
  }
  return new ProviderError((error as Error)?.message ?? 'SendGrid error', 'UNKNOWN', true);
}

export class SendgridProvider implements ChannelProvider<'EMAIL'> {
  readonly id = 'sendgrid' as const;
  readonly channel = 'EMAIL' as const;
  private readonly mail = new MailService();

  constructor(private readonly options: SendgridOptions) {
    const client = new Client();
    // setApiKey resets the default request, so the base URL must be set after it.
    client.setApiKey(options.apiKey);
    if (options.apiUrl) client.setDefaultRequest('baseUrl', options.apiUrl.replace(/\/$/, ''));
    client.setDefaultRequest('timeout' as 'baseUrl', options.timeoutMs as unknown as string);
    this.mail.setClient(client);
  }

  get mode() {
    return this.options.mode;
  }

  async send(payload: EmailPayload, ctx: SendContext): Promise<SendResult> {
    try {
      const [response] = await this.mail.send({
        to: payload.to,
        from: this.options.from,
        subject: payload.subject,
        ...(payload.text ? { text: payload.text } : {}),
        ...(payload.html ? { html: payload.html } : {}),
        ...(payload.cc?.length ? { cc: payload.cc } : {}),
        ...(payload.bcc?.length ? { bcc: payload.bcc } : {}),
        ...(payload.attachments?.length ? { attachments: payload.attachments } : {}),
        ...(payload.categories?.length ? { categories: payload.categories } : {}),
        ...(payload.headers ? { headers: payload.headers } : {}),
        customArgs: { [SENDGRID_MESSAGE_ID_ARG]: ctx.messageId, herald_tenant_id: ctx.tenantId },
      } as Parameters<MailService['send']>[0]);
      const header = (response.headers as Record<string, unknown>)['x-message-id'];
      const providerMessageId = typeof header === 'string' && header ? header : ctx.messageId;
      return { providerMessageId };
    } catch (error) {
      throw classifySendgridError(error);
    }
  }
}
