import { randomUUID } from 'node:crypto';
import { cert, deleteApp, initializeApp, type App, type Credential } from 'firebase-admin/app';
import { getMessaging, type Messaging, type Message as FcmMessage } from 'firebase-admin/messaging';
import type { ChannelProvider, PushPayload, SendContext, SendResult } from './provider.types';
import { networkError, ProviderError } from './provider.types';

export interface FcmOptions {
  mode: 'live' | 'sandbox';
  projectId: string;
  serviceAccount?: Record<string, unknown>;
  /** Sandbox: a fixed access token instead of a service account (no Google OAuth round trip). */
  accessToken?: string;
  /** Replaces https://fcm.googleapis.com (sandbox emulator, staging emulators). */
  apiUrl?: string;
}

/** FCM error codes (v1 API) that will not succeed on retry. */
const PERMANENT = new Map<string, string>([
  ['messaging/registration-token-not-registered', 'UNREGISTERED'],
  ['messaging/invalid-argument', 'INVALID_ARGUMENT'],
  ['messaging/invalid-registration-token', 'INVALID_ARGUMENT'],
  ['messaging/mismatched-credential', 'SENDER_ID_MISMATCH'],
  ['messaging/sender-id-mismatch', 'SENDER_ID_MISMATCH'],
  ['messaging/third-party-auth-error', 'THIRD_PARTY_AUTH_ERROR'],
  ['messaging/invalid-recipient', 'INVALID_ARGUMENT'],
  ['messaging/payload-size-limit-exceeded', 'INVALID_ARGUMENT'],
]);
const RETRYABLE = new Map<string, string>([
  ['messaging/server-unavailable', 'UNAVAILABLE'],
  ['messaging/internal-error', 'INTERNAL'],
  ['messaging/message-rate-exceeded', 'QUOTA_EXCEEDED'],
  ['messaging/device-message-rate-exceeded', 'QUOTA_EXCEEDED'],
  ['messaging/topics-message-rate-exceeded', 'QUOTA_EXCEEDED'],
  ['messaging/quota-exceeded', 'QUOTA_EXCEEDED'],
  ['messaging/unknown-error', 'UNKNOWN'],
  ['app/network-error', 'NETWORK'],
  ['app/network-timeout', 'TIMEOUT'],
]);

export function classifyFcmError(error: unknown): ProviderError {
  const network = networkError(error);
  if (network) return network;
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error)?.message ?? 'FCM error';
  const permanent = PERMANENT.get(code);
  if (permanent)
    return new ProviderError(message, permanent, false, { invalidAddress: permanent === 'UNREGISTERED' });
  return new ProviderError(message, RETRYABLE.get(code) ?? (code || 'UNKNOWN'), true);
}

/** The minimal credential firebase-admin accepts: a fixed token, as the sandbox emulator expects. */
const fixedTokenCredential = (token: string): Credential => ({
  getAccessToken: () => Promise.resolve({ access_token: token, expires_in: 3600 }),
});

interface HttpRequestLike {
  url: string;
}
interface InternalHttpClient {
  retry?: unknown;
  send(request: HttpRequestLike): Promise<unknown>;
}

/**
 * Two adjustments firebase-admin offers no setting for, made at its HTTP client so the SDK still builds,
 * authenticates and maps every request and error:
 * - its own retries are turned off: Herald counts attempts in PostgreSQL and owns the backoff, and an SDK retrying
 *   a 503 for seconds inside one attempt would hold a worker slot and hide the failure;
 * - with an endpoint override, the URL of each request is rewritten (firebase-admin's emulator variables cover
 *   auth, firestore and database only, not FCM).
 * If a firebase-admin upgrade moves this internal, construction fails loudly rather than sending elsewhere.
 */
function adjustHttpClient(messaging: Messaging, apiUrl: string | undefined): void {
  const handler = (messaging as unknown as { messagingRequestHandler?: { httpClient?: InternalHttpClient } })
    .messagingRequestHandler;
  const client = handler?.httpClient;
  if (!client || typeof client.send !== 'function' || !('retry' in client)) {
    throw new Error('firebase-admin internals changed: cannot configure the FCM HTTP client');
  }
  client.retry = null;
  if (!apiUrl) return;
  const send = client.send.bind(client);
  const base = apiUrl.replace(/\/$/, '');
  client.send = (request) => {
    const url = new URL(request.url);
    return send({ ...request, url: `${base}${url.pathname}${url.search}` });
  };
}

export class FcmProvider implements ChannelProvider<'PUSH'> {
  readonly id = 'fcm' as const;
  readonly channel = 'PUSH' as const;
  private readonly app: App;
  private readonly messaging: Messaging;

  constructor(private readonly options: FcmOptions) {
    const credential = options.serviceAccount
      ? cert(options.serviceAccount)
      : fixedTokenCredential(options.accessToken ?? '');
    // A uniquely named app per provider instance: several Herald instances (tests) may live in one process.
    this.app = initializeApp({ credential, projectId: options.projectId }, `herald-fcm-${randomUUID()}`);
    this.messaging = getMessaging(this.app);
    this.messaging.enableLegacyHttpTransport();
    adjustHttpClient(this.messaging, options.apiUrl);
  }

  get mode() {
    return this.options.mode;
  }

  private build(payload: PushPayload): Omit<FcmMessage, 'token' | 'topic' | 'condition'> {
    const notification =
      payload.title || payload.body || payload.imageUrl
        ? {
            ...(payload.title ? { title: payload.title } : {}),
            ...(payload.body ? { body: payload.body } : {}),
            ...(payload.imageUrl ? { imageUrl: payload.imageUrl } : {}),
          }
        : undefined;
    return { ...(notification ? { notification } : {}), ...(payload.data ? { data: payload.data } : {}) };
  }

  async send(payload: PushPayload, _ctx: SendContext): Promise<SendResult> {
    const base = this.build(payload);
    const target = payload.target;
    try {
      if ('tokens' in target) {
        const response = await this.messaging.sendEachForMulticast({ ...base, tokens: target.tokens });
        const first = response.responses.find((r) => r.success);
        if (!first)
          throw (
            (response.responses[0]?.error as unknown as Error) ??
            new Error('FCM multicast failed for every token')
          );
        return { providerMessageId: first.messageId ?? 'multicast' };
      }
      const name = await this.messaging.send({ ...base, ...target });
      return { providerMessageId: name };
    } catch (error) {
      throw classifyFcmError(error);
    }
  }

  async close(): Promise<void> {
    await deleteApp(this.app);
  }
}
