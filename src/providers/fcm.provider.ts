import { randomUUID } from 'node:crypto';
import { cert, deleteApp, initializeApp, type App, type Credential } from 'firebase-admin/app';
import { getMessaging, type Messaging, type Message as FcmMessage } from 'firebase-admin/messaging';
import type { ChannelProvider, PushPayload, SendContext, SendResult } from './provider.types';
import { jwtBearerCredential } from './fcm-token-credential';
import { networkError, ProviderError } from './provider.types';

export interface FcmOptions {
  mode: 'live' | 'sandbox';
  projectId: string;
  serviceAccount?: Record<string, unknown>;
  /** Sandbox: a fixed access token instead of a service account (no Google OAuth round trip). */
  accessToken?: string;
  /** Replaces https://fcm.googleapis.com (sandbox emulator, staging emulators). */
  apiUrl?: string;
  /**
   * With `serviceAccount`: obtain its access tokens from this OAuth endpoint (JWT bearer grant,
   * fcm-token-credential.ts) instead of Google's. Tenant configs in the sandbox: the emulator's `/fcm/token`.
   */
  tokenUrl?: string;
  /** Token request timeout (ms) with `tokenUrl`. */
  timeoutMs?: number;
}

/**
 * Every error code firebase-admin 13.10.0 gives a messaging send, classified once (ARCHITECTURE "Errors from vendors
 * are classified once, in the adapter"). The list is `MessagingClientErrorCode` in
 * firebase-admin/lib/utils/error.js (19 codes, each prefixed `messaging/`), with the server codes it maps to them
 * (`MESSAGING_SERVER_TO_CLIENT_CODE`), plus the `app/` codes its HTTP client and credential raise
 * (`AppErrorCodes`); test/unit/fcm-errors.test.ts fails when an upgrade adds a code this table does not name.
 * Herald's code (Message.error.code) is FCM's v1 ErrorCode where there is one
 * (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode).
 *
 * Permanent: the same request gets the same answer. This includes every code firebase-admin raises itself before
 * anything is sent (`invalid-payload`: a malformed topic name, several targets; `invalid-argument`, `invalid-options`,
 * `invalid-data-payload-key`, `payload-size-limit-exceeded`, `invalid-recipient`), and the server's refusals of the
 * message, its token or Herald's sender (`INVALID_ARGUMENT`, `UNREGISTERED`, `SENDER_ID_MISMATCH`,
 * `THIRD_PARTY_AUTH_ERROR`, a 401/403 that is not JSON).
 */
export const FCM_PERMANENT_ERRORS: ReadonlyMap<string, string> = new Map([
  ['messaging/invalid-argument', 'INVALID_ARGUMENT'],
  ['messaging/invalid-recipient', 'INVALID_ARGUMENT'],
  ['messaging/invalid-payload', 'INVALID_PAYLOAD'],
  ['messaging/invalid-data-payload-key', 'INVALID_ARGUMENT'],
  ['messaging/payload-size-limit-exceeded', 'INVALID_ARGUMENT'],
  ['messaging/invalid-options', 'INVALID_ARGUMENT'],
  ['messaging/invalid-registration-token', 'INVALID_ARGUMENT'],
  ['messaging/registration-token-not-registered', 'UNREGISTERED'],
  ['messaging/mismatched-credential', 'SENDER_ID_MISMATCH'],
  ['messaging/invalid-package-name', 'INVALID_ARGUMENT'],
  ['messaging/third-party-auth-error', 'THIRD_PARTY_AUTH_ERROR'],
  // Topic management only (subscribeToTopic), which Herald does not call; a refusal of the request all the same.
  ['messaging/too-many-topics', 'TOO_MANY_TOPICS'],
  // A 401/403 without FCM's JSON error: Herald's credentials are refused, and will be on every retry.
  ['messaging/authentication-error', 'AUTHENTICATION_ERROR'],
]);

/**
 * Retryable: quotas (429 QUOTA_EXCEEDED, with Retry-After where FCM gives one), the server's 500 and 503, a response
 * firebase-admin could not read, and the network. `messaging/unknown-error` is what firebase-admin gives a non-JSON
 * answer of any other status (a proxy's 502 or 504) and FCM's UNSPECIFIED_ERROR, so it is retried within
 * DISPATCH_MAX_ATTEMPTS. `app/invalid-credential` is also raised when the OAuth token cannot be fetched over the
 * network ("Error fetching access token"), so it is retried too. `app/app-deleted` is this provider closing during
 * shutdown: the message is retried by the next worker.
 */
export const FCM_RETRYABLE_ERRORS: ReadonlyMap<string, string> = new Map([
  ['messaging/server-unavailable', 'UNAVAILABLE'],
  ['messaging/internal-error', 'INTERNAL'],
  ['messaging/message-rate-exceeded', 'QUOTA_EXCEEDED'],
  ['messaging/device-message-rate-exceeded', 'QUOTA_EXCEEDED'],
  ['messaging/topics-message-rate-exceeded', 'QUOTA_EXCEEDED'],
  ['messaging/unknown-error', 'UNKNOWN'],
  ['app/network-error', 'NETWORK'],
  ['app/network-timeout', 'TIMEOUT'],
  ['app/unable-to-parse-response', 'UNPARSEABLE_RESPONSE'],
  ['app/invalid-credential', 'CREDENTIAL'],
  ['app/app-deleted', 'APP_DELETED'],
]);

/**
 * Codes that refuse the ACCOUNT (the config's Firebase project or service account), not the message: FCM's
 * THIRD_PARTY_AUTH_ERROR (the project's APNs certificate or web push key is refused; firebase-admin also maps a v1
 * UNAUTHENTICATED here) and a 401/403 without FCM's JSON
 * (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode). Another account may send the message.
 * Not SENDER_ID_MISMATCH: FCM documents it as a registration token tied to another sender, so it is the token's
 * fault; counted against the account, any user registering a device token of another project could open a
 * tenant's circuit and mark its config refused.
 */
export const FCM_ACCOUNT_REFUSED = new Set([
  'messaging/third-party-auth-error',
  'messaging/authentication-error',
]);

/**
 * Google's token endpoint refused the service account (RFC 6749 §5.2 error codes, which firebase-admin quotes in its
 * `app/invalid-credential` message: "invalid_grant" for a deleted key or a bad signature, "invalid_client",
 * "unauthorized_client"). Without one of them the credential error is the token fetch failing over the network,
 * which stays retryable.
 */
const OAUTH_REFUSAL = /\b(invalid_grant|invalid_client|unauthorized_client|invalid_scope|access_denied)\b/;

/**
 * A send's error as a ProviderError: FCM_PERMANENT_ERRORS are `retryable: false` (UNREGISTERED also marks the address
 * invalid, so the device is deactivated; FCM_ACCOUNT_REFUSED ones are `accountRefused`); FCM_RETRYABLE_ERRORS and
 * anything unnamed (an error that is not firebase-admin's) are retryable, bounded by DISPATCH_MAX_ATTEMPTS, except a
 * credential error in which Google's token endpoint refused the account (`accountRefused`, code CREDENTIAL).
 */
export function classifyFcmError(error: unknown): ProviderError {
  const network = networkError(error);
  if (network) return network;
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error)?.message ?? 'FCM error';
  const permanent = FCM_PERMANENT_ERRORS.get(code);
  if (permanent)
    return new ProviderError(message, permanent, false, {
      invalidAddress: permanent === 'UNREGISTERED',
      ...(FCM_ACCOUNT_REFUSED.has(code) ? { accountRefused: true } : {}),
    });
  if (code === 'app/invalid-credential' && OAUTH_REFUSAL.test(message))
    return new ProviderError(message, 'CREDENTIAL', false, { accountRefused: true });
  return new ProviderError(message, FCM_RETRYABLE_ERRORS.get(code) ?? (code || 'UNKNOWN'), true);
}

const textOf = (value: unknown) => (typeof value === 'string' ? value : '');

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
    const account = options.serviceAccount;
    const credential = !account
      ? fixedTokenCredential(options.accessToken ?? '')
      : options.tokenUrl
        ? jwtBearerCredential(
            {
              clientEmail: textOf(account.client_email),
              privateKey: textOf(account.private_key),
            },
            options.tokenUrl,
            options.timeoutMs ?? 10_000,
          )
        : cert(account);
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

  /**
   * Asks FCM whether these credentials may send for the project: a validate-only send (FCM's dry run) to a topic,
   * which needs an access token (the OAuth exchange) and the project's permission but delivers nothing.
   * @throws the classified ProviderError with FCM's (or the token endpoint's) refusal.
   */
  async checkCredentials(): Promise<void> {
    try {
      await this.messaging.send({ topic: 'herald-config-check' }, true);
    } catch (error) {
      throw classifyFcmError(error);
    }
  }

  async close(): Promise<void> {
    await deleteApp(this.app);
  }
}
