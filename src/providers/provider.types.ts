/** Providers know nothing of entities, services or GraphQL: they speak in these plain shapes. */
export type ChannelName = 'EMAIL' | 'SMS' | 'WHATSAPP' | 'PUSH';
export type ProviderId = 'twilio-sms' | 'twilio-whatsapp' | 'sendgrid' | 'fcm' | 'ses' | 'sns';

export interface SendContext {
  messageId: string;
  tenantId: string;
  attempt: number;
}

export interface ProviderPrice {
  /** Positive amount charged. */
  amount: number;
  /** ISO 4217, e.g. USD. */
  currency: string;
}

export interface SendResult {
  providerMessageId: string;
  segments?: number;
}

export interface EmailAttachment {
  content: string; // base64
  filename: string;
  type?: string;
  disposition?: 'attachment' | 'inline';
  contentId?: string;
}

export interface EmailPayload {
  to: string;
  subject: string;
  text?: string | null;
  html?: string | null;
  cc?: string[];
  bcc?: string[];
  attachments?: EmailAttachment[];
  categories?: string[];
  /** Extra headers, e.g. List-Unsubscribe. */
  headers?: Record<string, string>;
}

export interface TextPayload {
  /** E.164 number (for WhatsApp without the whatsapp: prefix). */
  to: string;
  body: string;
  mediaUrls?: string[] | null;
  /**
   * WhatsApp only: an approved template (Twilio Content API ContentSid + ContentVariables) sent instead of body and
   * media, which are then left out of the request.
   */
  template?: { contentSid: string; contentVariables?: Record<string, unknown> | null } | null;
}

export type PushTarget = { token: string } | { tokens: string[] } | { topic: string } | { condition: string };

export interface PushPayload {
  target: PushTarget;
  title?: string | null;
  body?: string | null;
  imageUrl?: string | null;
  data?: Record<string, string> | null;
}

export interface ChannelPayloads {
  EMAIL: EmailPayload;
  SMS: TextPayload;
  WHATSAPP: TextPayload;
  PUSH: PushPayload;
}

export interface ChannelProvider<C extends ChannelName = ChannelName> {
  readonly id: ProviderId;
  readonly channel: C;
  /** live = real vendor, sandbox = Herald's emulator with the fixed sandbox credentials. */
  readonly mode: 'live' | 'sandbox';
  /**
   * The address messages go out from, where a vendor rule depends on it (WhatsApp's 24-hour window belongs to the
   * customer ↔ sender pair); E.164 without a channel prefix.
   */
  readonly sender?: string;
  /** Throws ProviderError, never a vendor exception. */
  send(message: ChannelPayloads[C], ctx: SendContext): Promise<SendResult>;
  /**
   * What the provider charged for a sent message, where it reports prices (Twilio, after the final status);
   * undefined while it has none yet.
   */
  fetchPrice?(providerMessageId: string): Promise<ProviderPrice | undefined>;
  close?(): Promise<void>;
}

export interface ProviderErrorDetails {
  status?: number;
  retryAfterMs?: number;
  /** The vendor refused the recipient's address itself (the contact's address is marked invalid). */
  invalidAddress?: boolean;
  /**
   * The vendor refused the ACCOUNT Herald sent with (credentials revoked or wrong, account suspended, key lacking the
   * send permission) or the config's SENDER (a From number, WhatsApp sender or email identity the account does not
   * own or has not verified), not this message or its recipient: no retry on that account helps, but another account
   * may send it, so dispatch fails over at once and counts it toward that account's circuit. Always with
   * `retryable: false`.
   */
  accountRefused?: boolean;
}

/**
 * The one error shape above the adapters. `code` is the vendor's own code (21211, UNREGISTERED, 400…) so
 * operators can look it up; `retryable` and `details.accountRefused` are decided once, in the adapter.
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly retryable: boolean,
    readonly details: ProviderErrorDetails = {},
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

/** Timeouts and broken connections: the request may or may not have reached the vendor; retry. */
export function networkError(error: unknown): ProviderError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && RETRYABLE_NETWORK_CODES.has(code)) {
    return new ProviderError(`network error: ${(error as Error).message}`, code, true);
  }
  return undefined;
}

/** HTTP status classification shared by every vendor: 429 and 5xx are worth retrying, other 4xx are not. */
export const isRetryableStatus = (status: number | undefined): boolean =>
  status === undefined || status === 408 || status === 429 || status >= 500;

export function parseRetryAfter(value: unknown): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(String(value));
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
