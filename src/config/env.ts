import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseConfigKeyring, type ConfigKeyring } from './encryption-keys';
import { awsAndRouting, routingModel, type AwsSettings, type RoutingSettings } from './routing';
import { SANDBOX } from './sandbox';
import {
  developmentWebhookCredentials,
  productionWebhookCredentials,
  webhookWindowModel,
  type WebhookCredentials,
} from './webhook-credentials';
import { templateLimits, templateModel, type TemplateLimits } from './templates';
import {
  blankToUndefined,
  intWithDefault,
  optionalString,
  optionalUrl,
  type ChannelMode,
} from './zod-helpers';

/** The only place that reads process.env (lint: no-process-env). One zod model per concern. */
type Source = Record<string, string | undefined>;

const serverModel = z.object({
  PORT: intWithDefault(4000, 0),
  NODE_ENV: z.preprocess(
    blankToUndefined,
    z.enum(['development', 'test', 'production']).default('development'),
  ),
  PUBLIC_URL: optionalUrl,
  LOG_LEVEL: z.preprocess(
    blankToUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  SHUTDOWN_TIMEOUT_MS: intWithDefault(10_000, 0),
});

const dbModel = z.object({
  DATABASE_URL: z.preprocess(
    blankToUndefined,
    z.url({ protocol: /^postgres(ql)?$/ }).default('postgres://postgres@127.0.0.1:5432/herald'),
  ),
});

const redisModel = z.object({
  REDIS_URL: z.preprocess(
    blankToUndefined,
    z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379/0'),
  ),
  /** Prefix for every Redis key and channel Herald uses, so several deployments (or test runs) share one Redis. */
  REDIS_KEY_PREFIX: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[\w.-]+$/)
      .default('herald'),
  ),
});

const authModel = z.object({
  JWT_SECRET: z.preprocess(blankToUndefined, z.string().min(32, 'must be at least 32 characters').optional()),
  JWT_JWKS_URL: optionalUrl,
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  /** Longest a token may still be valid when presented (exp − now, seconds); unset = whatever its issuer set. */
  JWT_MAX_TOKEN_AGE_SECONDS: z.preprocess(blankToUndefined, z.coerce.number().int().min(60).optional()),
  /** Signs one-click unsubscribe links; defaults to JWT_SECRET, and to a fixed development value outside production. */
  UNSUBSCRIBE_SECRET: z.preprocess(
    blankToUndefined,
    z.string().min(32, 'must be at least 32 characters').optional(),
  ),
});

const twilioModel = z.object({
  TWILIO_ACCOUNT_SID: z.preprocess(
    blankToUndefined,
    z.string().startsWith('AC', 'must start with AC').optional(),
  ),
  TWILIO_AUTH_TOKEN: optionalString,
  // ITU-T E.164 shape ("+", a country code not starting with 0, at most 15 digits) or a Messaging Service SID ("MG" and
  // 32 hex digits, https://www.twilio.com/docs/glossary/what-is-a-sid). Only the shape: a sender number newer than
  // libphonenumber's metadata must not stop startup; Twilio checks the number is the account's.
  TWILIO_FROM: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(
        /^(\+[1-9]\d{6,14}|MG[0-9a-fA-F]{32})$/,
        'must be an E.164 number or an MG… messaging service sid',
      )
      .optional(),
  ),
  TWILIO_WHATSAPP_FROM: optionalString,
  TWILIO_API_URL: optionalUrl,
});

const sendgridModel = z.object({
  SENDGRID_API_KEY: optionalString,
  EMAIL_FROM: z.preprocess(blankToUndefined, z.email().optional()),
  SENDGRID_WEBHOOK_PUBLIC_KEY: optionalString,
  SENDGRID_API_URL: optionalUrl,
});

const fcmModel = z.object({
  FIREBASE_SERVICE_ACCOUNT: optionalString,
  FIREBASE_PROJECT_ID: optionalString,
  FCM_API_URL: optionalUrl,
});

const dispatchModel = z.object({
  DISPATCH_MAX_ATTEMPTS: intWithDefault(5, 1),
  DISPATCH_LEASE_MS: intWithDefault(60_000, 1_000),
  DISPATCH_BACKOFF_BASE_MS: intWithDefault(2_000, 1),
  DISPATCH_BACKOFF_MAX_MS: intWithDefault(300_000, 1),
  DISPATCH_CONCURRENCY: intWithDefault(100, 1),
  /**
   * Characters of message content one worker holds in flight (rendered, sent, not yet recorded); a send waits for room.
   * Measured heap use is about 14 bytes per character for rendered templates, more for explicit content (read back
   * from PostgreSQL and parsed): 6,000,000 ran a 192 MB worker out of memory on a backlog of 120 explicit 2 MB
   * emails, 3,000,000 did not (test/e2e/worker-memory.test.ts).
   */
  DISPATCH_CONTENT_BUDGET_CHARS: intWithDefault(3_000_000, 1_000),
  SCHEDULER_INTERVAL_MS: intWithDefault(1_000, 10),
  /** A QUEUED row older than this with no job (Redis lost it, or the enqueue after commit failed) is enqueued again. */
  REQUEUE_AFTER_MS: intWithDefault(60_000, 100),
  PROVIDER_TIMEOUT_MS: intWithDefault(10_000, 100),
  /**
   * How long a worker keeps a tenant's provider order (its active channel configs and useSharedProviders) before
   * reading it again; a config change reaches every worker within this time. 0 = read before every send.
   */
  CHANNEL_CONFIG_ROUTES_TTL_MS: intWithDefault(2_000, 0),
  /**
   * Days a deleted channel config's webhook paths keep verifying and applying reports (status, bounces, inbound STOP)
   * for the messages it sent; then the scheduler purges the row and its ciphertext, and its paths answer 404.
   */
  DELETED_CHANNEL_CONFIG_WEBHOOK_DAYS: intWithDefault(30, 0),
  /** A send's scheduledAt may be at most this many days ahead; further is refused (BAD_USER_INPUT). */
  SCHEDULE_MAX_AHEAD_DAYS: intWithDefault(365, 1),
  /** Sends per second per provider across every worker, e.g. "twilio-sms=1,sendgrid=100"; unlisted = unlimited. */
  PROVIDER_RATE_LIMITS: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(
        /^\s*[a-z-]+\s*=\s*\d+(\s*,\s*[a-z-]+\s*=\s*\d+)*\s*$/,
        'use provider=perSecond pairs, e.g. "twilio-sms=1,sendgrid=100"',
      )
      .optional(),
  ),
});

const deliveryModel = z.object({
  /** Answer to an inbound HELP or INFO (TwiML). */
  INBOUND_HELP_TEXT: z.preprocess(
    blankToUndefined,
    z
      .string()
      .max(1600)
      .default('Herald notifications. Reply STOP to unsubscribe, START to subscribe again.'),
  ),
  /** How long the sandbox emulator waits before each delivery callback. */
  SANDBOX_CALLBACK_DELAY_MS: intWithDefault(300, 0),
  /** Largest accepted webhook body; larger ones get 413. */
  WEBHOOK_BODY_LIMIT_BYTES: intWithDefault(1_000_000, 1_024),
  /** Most fields in one form-encoded (Twilio) webhook, counted before the signature is checked; more get 413. */
  WEBHOOK_MAX_FORM_FIELDS: intWithDefault(1_000, 1),
  /** Status events a slow websocket subscriber may have waiting before they collapse to the newest per message. */
  SUBSCRIPTION_BUFFER_EVENTS: intWithDefault(256, 1),
});

/**
 * GraphQL request budgets per minute (rate-limiter-flexible on Redis). A `service` token (a backend) has one budget
 * per tenant; any other caller one per tenant, `sub` and operation class. The class defaults are the API's own
 * (seeds/001 "Rate Limiting": general 100, sending 10, batch 5, analytics 50 per minute per user).
 */
const rateLimitModel = z.object({
  RATE_LIMIT_ENABLED: z.preprocess(blankToUndefined, z.enum(['true', 'false']).default('true')),
  RATE_LIMIT_SERVICE_PER_MINUTE: intWithDefault(6_000, 1),
  RATE_LIMIT_GENERAL_PER_MINUTE: intWithDefault(100, 1),
  RATE_LIMIT_SENDING_PER_MINUTE: intWithDefault(10, 1),
  RATE_LIMIT_BATCH_PER_MINUTE: intWithDefault(5, 1),
  RATE_LIMIT_ANALYTICS_PER_MINUTE: intWithDefault(50, 1),
  /** Operations one websocket may have running at once (live subscriptions included); more are refused. */
  WS_MAX_SUBSCRIPTIONS_PER_SOCKET: intWithDefault(50, 1),
});

/** Limits on one GraphQL document, over HTTP and websockets alike (src/server/query-limits.ts). */
const graphqlModel = z.object({
  /** Deepest field nesting (fragments do not count as a level; introspection's __schema is exempt). */
  GRAPHQL_MAX_DEPTH: intWithDefault(10, 1),
  /** Aliased fields in one operation (__typename is exempt). */
  GRAPHQL_MAX_ALIASES: intWithDefault(15, 0),
  /** Lexical tokens in one document; parsing stops past it. */
  GRAPHQL_MAX_TOKENS: intWithDefault(2_000, 100),
  /** Estimated objects one operation may resolve: list fields multiply by their page size or estimate. */
  GRAPHQL_MAX_COST: intWithDefault(10_000, 1),
  /** Estimated bytes of one response (strings plus a small overhead per value); a larger one is refused whole. */
  GRAPHQL_MAX_RESPONSE_BYTES: intWithDefault(8 * 1024 * 1024, 1_024),
  /** Bytes of GraphQL request bodies held at once per process; past it a request waits, then answers 503. */
  GRAPHQL_INFLIGHT_BODY_BYTES: intWithDefault(8 * 1024 * 1024, 64 * 1024),
  /**
   * Content bytes (Message.content, as stored) that the responses of one process may hold at once, reserved from
   * their sizes before the contents are read and given back once the response is written; past it a request waits,
   * then answers 503 (src/server/response-budget.ts).
   */
  GRAPHQL_INFLIGHT_RESPONSE_BYTES: intWithDefault(16 * 1024 * 1024, 64 * 1024),
  /**
   * Largest websocket message on /graphql (ws closes the socket with 1009 past it). A subscribe carries a document
   * of at most GRAPHQL_MAX_TOKENS (2,000) tokens, about 32 KB at 16 bytes a token, and its variables; 256 KiB
   * leaves room for long documents and large variables, not for a 1 MB email: large sends go over HTTP.
   */
  WS_MAX_PAYLOAD_BYTES: intWithDefault(256 * 1024, 1_024),
  /**
   * Bytes a websocket may send before its connection is acknowledged (connection_init: a token of a few KB;
   * graphql-ws keeps its payload for the socket's life); past it the socket is closed with 1009. 16 KiB, Node's
   * default limit for all of an HTTP request's headers, where the same token travels over HTTP.
   */
  WS_MAX_INIT_PAYLOAD_BYTES: intWithDefault(16 * 1024, 1_024),
  /**
   * Bytes of websocket messages being received or parsed at once per process (src/server/ws-inflight.ts); the
   * socket whose chunk passes it is closed with 1013 (try again later).
   */
  WS_INFLIGHT_BYTES: intWithDefault(8 * 1024 * 1024, 64 * 1024),
  /** Websockets open at once on /graphql per process; one more is closed with 1013 as soon as it connects. */
  WS_MAX_CONNECTIONS: intWithDefault(1_000, 1),
  /**
   * Deepest nesting of arrays/objects in a /graphql body or websocket message (src/services/json-depth.ts), measured
   * before parsing: deeper gets 400 / close 4400. Far above the input guard's 32 levels for `data`, so a send with
   * too-deep data is refused on its own (BAD_USER_INPUT) while its batch neighbours stand; the scan only stops
   * parse bombs (a million levels took V8 three seconds to parse).
   */
  JSON_MAX_DEPTH: intWithDefault(8_192, 8),
  /** The same for SendGrid webhook bodies: SendGrid posts flat event objects, and stored payloads are walked. */
  WEBHOOK_JSON_MAX_DEPTH: intWithDefault(64, 8),
  /** Bytes a websocket may have queued unsent before the next result closes it with 1013 (client too slow). */
  WS_MAX_BUFFERED_BYTES: intWithDefault(16 * 1024 * 1024, 65_536),
  /**
   * Messages one websocket may send a second, sustained (a token bucket, src/server/token-bucket.ts); past it and its
   * burst the socket is closed with 4429. A graphql-ws client sends a few a second at most (subscribe, complete,
   * a ping every few seconds).
   */
  WS_MAX_MESSAGES_PER_SECOND: intWithDefault(100, 1),
  /** Messages one websocket may send at once above that rate (the bucket's size; a client resubscribing many). */
  WS_MESSAGE_BURST: intWithDefault(100, 1),
});

const priceTable = z.preprocess(
  (value) => {
    if (typeof value !== 'string' || value.trim() === '') return undefined;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  },
  z
    .record(
      z.string().regex(/^([A-Z]{2}|\*)$/, 'keys are ISO country codes or "*"'),
      z.number().nonnegative(),
    )
    .default({ '*': 0.0079 }),
);
const priceModel = z.object({
  /** USD per SMS segment by destination country (ISO 3166 alpha-2), "*" for the rest, as JSON. */
  SMS_PRICES: priceTable,
  WHATSAPP_PRICE: z.preprocess(blankToUndefined, z.coerce.number().nonnegative().default(0.005)),
  EMAIL_PRICE: z.preprocess(blankToUndefined, z.coerce.number().nonnegative().default(0.0001)),
  PUSH_PRICE: z.preprocess(blankToUndefined, z.coerce.number().nonnegative().default(0)),
  /** Default spend caps per tenant in USD (unset = none); tenants may override them (updateTenantSettings). */
  BUDGET_DAILY_USD: z.preprocess(blankToUndefined, z.coerce.number().positive().optional()),
  BUDGET_MONTHLY_USD: z.preprocess(blankToUndefined, z.coerce.number().positive().optional()),
  /** How long after a message's final status to ask the provider for its price (Twilio settles it late). */
  PROVIDER_PRICE_DELAY_MS: intWithDefault(60_000, 0),
  /** How many times to ask before keeping the estimate. */
  PROVIDER_PRICE_CHECKS: intWithDefault(5, 0),
  /** Whether CRITICAL sends go out over budget (default true: an outage alert must not wait for the budget). */
  BUDGET_CRITICAL_BYPASS: z.preprocess(blankToUndefined, z.enum(['true', 'false']).default('true')),
});

export type { ChannelMode } from './zod-helpers';

export interface TwilioSettings {
  mode: ChannelMode;
  accountSid: string;
  authToken: string;
  from: string;
  whatsappFrom: string;
  apiUrl?: string;
}
export interface SendgridSettings {
  mode: ChannelMode;
  apiKey: string;
  from: string;
  apiUrl?: string;
}
export interface FcmSettings {
  mode: ChannelMode;
  projectId: string;
  /** Parsed service account; absent in sandbox mode, where a fixed access token is used. */
  serviceAccount?: Record<string, unknown>;
  sandboxAccessToken?: string;
  apiUrl?: string;
}

export interface Config {
  server: {
    port: number;
    nodeEnv: 'development' | 'test' | 'production';
    publicUrl: string;
    logLevel: string;
    shutdownTimeoutMs: number;
  };
  db: { url: string };
  redis: { url: string; keyPrefix: string };
  auth: {
    enabled: boolean;
    secret?: string;
    jwksUrl?: string;
    issuer?: string;
    audience?: string;
    /** Refuse tokens whose exp is further ahead than this (seconds). */
    maxTokenAgeSeconds?: number;
    unsubscribeSecret: string;
  };
  twilio: TwilioSettings;
  sendgrid: SendgridSettings;
  /** CONFIG_ENCRYPTION_KEY (encryption-keys.ts): encrypts tenants' channel-config credentials. */
  channelConfigs: {
    keyring: ConfigKeyring;
    /** DELETED_CHANNEL_CONFIG_WEBHOOK_DAYS: how long a deleted config's webhooks still apply, then it is purged. */
    deletedWebhookDays: number;
  };
  /** What verifies provider webhooks; a vendor absent here has no webhook routes. */
  webhooks: WebhookCredentials;
  fcm: FcmSettings;
  aws: AwsSettings;
  routing: RoutingSettings;
  templates: TemplateLimits;
  inbound: { helpText: string };
  prices: {
    sms: Record<string, number>;
    whatsapp: number;
    email: number;
    push: number;
    providerDelayMs: number;
    providerChecks: number;
  };
  budgets: { daily?: number; monthly?: number; criticalBypass: boolean };
  delivery: {
    sandboxCallbackDelayMs: number;
    webhookBodyLimitBytes: number;
    /** WEBHOOK_MAX_FORM_FIELDS: fields one form-encoded webhook may carry. */
    webhookMaxFormFields: number;
    subscriptionBufferEvents: number;
  };
  rateLimit: {
    enabled: boolean;
    /** Requests per minute: `service` per tenant; the classes per tenant and sub. */
    perMinute: { service: number; general: number; sending: number; batch: number; analytics: number };
    maxSubscriptionsPerSocket: number;
  };
  graphql: {
    maxDepth: number;
    maxAliases: number;
    maxTokens: number;
    maxCost: number;
    /** GRAPHQL_INFLIGHT_BODY_BYTES: request body bytes held at once per process (src/server/body-budget.ts). */
    inflightBodyBytes: number;
    /** GRAPHQL_MAX_RESPONSE_BYTES: estimated bytes of one response (src/server/response-size.ts). */
    maxResponseBytes: number;
    /** GRAPHQL_INFLIGHT_RESPONSE_BYTES: stored content bytes responses hold at once per process. */
    inflightResponseBytes: number;
    /** WS_MAX_PAYLOAD_BYTES: largest websocket message on /graphql, in bytes. */
    wsMaxPayloadBytes: number;
    /** WS_MAX_INIT_PAYLOAD_BYTES: bytes a websocket may send before connection_ack. */
    wsMaxInitBytes: number;
    /** WS_INFLIGHT_BYTES: websocket message bytes being received or parsed at once per process. */
    wsInflightBytes: number;
    /** WS_MAX_CONNECTIONS: websockets open at once per process. */
    wsMaxConnections: number;
    /** JSON_MAX_DEPTH: deepest array/object nesting of a /graphql body or websocket message. */
    jsonMaxDepth: number;
    /** WEBHOOK_JSON_MAX_DEPTH: the same for SendGrid webhook bodies. */
    webhookJsonMaxDepth: number;
    /** WS_MAX_BUFFERED_BYTES: unsent bytes a websocket may have queued before it is closed with 1013. */
    wsMaxBufferedBytes: number;
    /** WS_MAX_MESSAGES_PER_SECOND: messages a second one websocket may send, sustained, before it is closed with 4429. */
    wsMaxMessagesPerSecond: number;
    /** WS_MESSAGE_BURST: messages one websocket may send at once above that rate. */
    wsMessageBurst: number;
  };
  dispatch: {
    maxAttempts: number;
    leaseMs: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    concurrency: number;
    /** DISPATCH_CONTENT_BUDGET_CHARS: characters of content in flight per worker. */
    contentBudgetChars: number;
    schedulerIntervalMs: number;
    requeueAfterMs: number;
    providerTimeoutMs: number;
    /** CHANNEL_CONFIG_ROUTES_TTL_MS: how long a tenant's provider order is cached per process (ms). */
    routesTtlMs: number;
    /** Horizon of scheduledAt, in days from now. */
    scheduleMaxAheadDays: number;
    /** Sends per second by provider id, shared by every worker process. */
    rateLimits: Record<string, number>;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function collect<T extends z.ZodType>(model: T, source: Source, problems: string[]): z.infer<T> | undefined {
  const result = model.safeParse(source);
  if (result.success) return result.data;
  for (const issue of result.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  return undefined;
}

/** Signs unsubscribe links outside production when nothing is configured; public, so refused in production. */
const DEVELOPMENT_UNSUBSCRIBE_SECRET = 'herald-development-unsubscribe-secret-not-for-production';

/** The sandbox emulator lives on the API's own server, so every worker reaches the same one via PUBLIC_URL. */
const sandboxUrl = (publicUrl: string, vendor: string) => `${publicUrl.replace(/\/$/, '')}/sandbox/${vendor}`;

function channelMode(hasCredentials: boolean, production: boolean): ChannelMode {
  if (hasCredentials) return 'live';
  return production ? 'disabled' : 'sandbox';
}

function readServiceAccount(value: string, problems: string[]): Record<string, unknown> | undefined {
  try {
    const text = value.trim().startsWith('{') ? value : readFileSync(value, 'utf8');
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    problems.push(
      `FIREBASE_SERVICE_ACCOUNT: must be JSON text or a readable JSON file (${(error as Error).message})`,
    );
    return undefined;
  }
}

/** Parses and checks every concern, collecting all problems before failing so an operator fixes them in one go. */
export function parseConfig(source: Source): Config {
  const problems: string[] = [];
  const server = collect(serverModel, source, problems);
  const db = collect(dbModel, source, problems);
  const redis = collect(redisModel, source, problems);
  const auth = collect(authModel, source, problems);
  const twilio = collect(twilioModel, source, problems);
  const sendgrid = collect(sendgridModel, source, problems);
  const fcm = collect(fcmModel, source, problems);
  const dispatch = collect(dispatchModel, source, problems);
  const delivery = collect(deliveryModel, source, problems);
  const prices = collect(priceModel, source, problems);
  const rateLimit = collect(rateLimitModel, source, problems);
  const webhookWindow = collect(webhookWindowModel, source, problems);
  const graphql = collect(graphqlModel, source, problems);
  const routingEnv = collect(routingModel, source, problems);
  const templateEnv = collect(templateModel, source, problems);
  if (
    !routingEnv ||
    !templateEnv ||
    !server ||
    !db ||
    !redis ||
    !auth ||
    !twilio ||
    !sendgrid ||
    !fcm ||
    !dispatch ||
    !delivery ||
    !prices ||
    !rateLimit ||
    !webhookWindow ||
    !graphql
  ) {
    throw new ConfigError(problems);
  }

  const production = server.NODE_ENV === 'production';
  const keyring = parseConfigKeyring(source.CONFIG_ENCRYPTION_KEY, problems);
  const publicUrl = (server.PUBLIC_URL ?? `http://localhost:${server.PORT}`).replace(/\/$/, '');
  const authEnabled = Boolean(auth.JWT_SECRET ?? auth.JWT_JWKS_URL);
  if (production && !authEnabled)
    problems.push('JWT_SECRET or JWT_JWKS_URL: required when NODE_ENV=production');
  const unsubscribeSecret = auth.UNSUBSCRIBE_SECRET ?? auth.JWT_SECRET;
  if (production && !unsubscribeSecret)
    problems.push('UNSUBSCRIBE_SECRET: required in production without JWT_SECRET');
  if (production && unsubscribeSecret === DEVELOPMENT_UNSUBSCRIBE_SECRET)
    problems.push('UNSUBSCRIBE_SECRET: the development value is public and is refused in production');

  const twilioHasCreds = Boolean(twilio.TWILIO_ACCOUNT_SID ?? twilio.TWILIO_AUTH_TOKEN);
  if (twilioHasCreds) {
    for (const key of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'] as const) {
      if (!twilio[key]) problems.push(`${key}: required when Twilio credentials are given`);
    }
  }
  const twilioMode = channelMode(twilioHasCreds, production);

  if (sendgrid.SENDGRID_API_KEY && !sendgrid.EMAIL_FROM)
    problems.push('EMAIL_FROM: required with SENDGRID_API_KEY');
  const sendgridMode = channelMode(Boolean(sendgrid.SENDGRID_API_KEY), production);

  // Production builds its verifiers from configured secrets only; nothing there falls back to a sandbox value.
  const webhookSecrets = {
    twilioAuthToken: twilioMode === 'live' ? twilio.TWILIO_AUTH_TOKEN : undefined,
    sendgridPublicKey: sendgrid.SENDGRID_WEBHOOK_PUBLIC_KEY,
    window: webhookWindow,
  };
  const webhooks = production
    ? productionWebhookCredentials(webhookSecrets, problems)
    : developmentWebhookCredentials(
        webhookSecrets,
        {
          twilio: twilioMode === 'sandbox',
          sendgrid: sendgridMode === 'sandbox',
        },
        problems,
      );

  const serviceAccount = fcm.FIREBASE_SERVICE_ACCOUNT
    ? readServiceAccount(fcm.FIREBASE_SERVICE_ACCOUNT, problems)
    : undefined;
  const fcmMode = channelMode(Boolean(fcm.FIREBASE_SERVICE_ACCOUNT), production);
  const fcmProjectId =
    fcm.FIREBASE_PROJECT_ID ??
    (typeof serviceAccount?.project_id === 'string' ? serviceAccount.project_id : undefined) ??
    SANDBOX.fcm.projectId;

  const { aws, routing } = awsAndRouting(
    routingEnv,
    { production, sandboxUrl: (vendor) => sandboxUrl(publicUrl, vendor), emailFrom: sendgrid.EMAIL_FROM },
    problems,
  );

  if (problems.length > 0) throw new ConfigError(problems);

  return {
    server: {
      port: server.PORT,
      nodeEnv: server.NODE_ENV,
      publicUrl,
      logLevel: server.LOG_LEVEL,
      shutdownTimeoutMs: server.SHUTDOWN_TIMEOUT_MS,
    },
    db: { url: db.DATABASE_URL },
    redis: { url: redis.REDIS_URL, keyPrefix: redis.REDIS_KEY_PREFIX },
    auth: {
      enabled: authEnabled,
      secret: auth.JWT_SECRET,
      jwksUrl: auth.JWT_JWKS_URL,
      issuer: auth.JWT_ISSUER,
      audience: auth.JWT_AUDIENCE,
      maxTokenAgeSeconds: auth.JWT_MAX_TOKEN_AGE_SECONDS,
      // Production without a secret was refused above, so the public development value never signs there.
      unsubscribeSecret: unsubscribeSecret ?? DEVELOPMENT_UNSUBSCRIBE_SECRET,
    },
    twilio:
      twilioMode === 'live'
        ? {
            mode: 'live',
            accountSid: twilio.TWILIO_ACCOUNT_SID!,
            authToken: twilio.TWILIO_AUTH_TOKEN!,
            from: twilio.TWILIO_FROM!,
            whatsappFrom: twilio.TWILIO_WHATSAPP_FROM ?? `whatsapp:${twilio.TWILIO_FROM!}`,
            apiUrl: twilio.TWILIO_API_URL,
          }
        : {
            mode: twilioMode,
            ...SANDBOX.twilio,
            // Disabled (production without credentials) carries no token at all: it sends nothing, verifies nothing.
            authToken: twilioMode === 'sandbox' ? SANDBOX.twilio.authToken : '',
            apiUrl: twilio.TWILIO_API_URL ?? sandboxUrl(publicUrl, 'twilio'),
          },
    sendgrid:
      sendgridMode === 'live'
        ? {
            mode: 'live',
            apiKey: sendgrid.SENDGRID_API_KEY!,
            from: sendgrid.EMAIL_FROM!,
            apiUrl: sendgrid.SENDGRID_API_URL,
          }
        : {
            mode: sendgridMode,
            apiKey: sendgridMode === 'sandbox' ? SANDBOX.sendgrid.apiKey : '',
            from: sendgrid.EMAIL_FROM ?? SANDBOX.sendgrid.from,
            apiUrl: sendgrid.SENDGRID_API_URL ?? sandboxUrl(publicUrl, 'sendgrid'),
          },
    webhooks,
    channelConfigs: { keyring, deletedWebhookDays: dispatch.DELETED_CHANNEL_CONFIG_WEBHOOK_DAYS },
    fcm:
      fcmMode === 'live'
        ? { mode: 'live', projectId: fcmProjectId, serviceAccount, apiUrl: fcm.FCM_API_URL }
        : {
            mode: fcmMode,
            projectId: fcm.FIREBASE_PROJECT_ID ?? SANDBOX.fcm.projectId,
            sandboxAccessToken: SANDBOX.fcm.accessToken,
            apiUrl: fcm.FCM_API_URL ?? sandboxUrl(publicUrl, 'fcm'),
          },
    aws,
    routing,
    templates: templateLimits(templateEnv),
    inbound: { helpText: delivery.INBOUND_HELP_TEXT },
    budgets: {
      daily: prices.BUDGET_DAILY_USD,
      monthly: prices.BUDGET_MONTHLY_USD,
      criticalBypass: prices.BUDGET_CRITICAL_BYPASS === 'true',
    },
    prices: {
      sms: { '*': 0.0079, ...prices.SMS_PRICES },
      whatsapp: prices.WHATSAPP_PRICE,
      email: prices.EMAIL_PRICE,
      push: prices.PUSH_PRICE,
      providerDelayMs: prices.PROVIDER_PRICE_DELAY_MS,
      providerChecks: prices.PROVIDER_PRICE_CHECKS,
    },
    delivery: {
      sandboxCallbackDelayMs: delivery.SANDBOX_CALLBACK_DELAY_MS,
      webhookBodyLimitBytes: delivery.WEBHOOK_BODY_LIMIT_BYTES,
      webhookMaxFormFields: delivery.WEBHOOK_MAX_FORM_FIELDS,
      subscriptionBufferEvents: delivery.SUBSCRIPTION_BUFFER_EVENTS,
    },
    rateLimit: {
      enabled: rateLimit.RATE_LIMIT_ENABLED === 'true',
      perMinute: {
        service: rateLimit.RATE_LIMIT_SERVICE_PER_MINUTE,
        general: rateLimit.RATE_LIMIT_GENERAL_PER_MINUTE,
        sending: rateLimit.RATE_LIMIT_SENDING_PER_MINUTE,
        batch: rateLimit.RATE_LIMIT_BATCH_PER_MINUTE,
        analytics: rateLimit.RATE_LIMIT_ANALYTICS_PER_MINUTE,
      },
      maxSubscriptionsPerSocket: rateLimit.WS_MAX_SUBSCRIPTIONS_PER_SOCKET,
    },
    graphql: {
      maxDepth: graphql.GRAPHQL_MAX_DEPTH,
      maxAliases: graphql.GRAPHQL_MAX_ALIASES,
      maxTokens: graphql.GRAPHQL_MAX_TOKENS,
      maxCost: graphql.GRAPHQL_MAX_COST,
      maxResponseBytes: graphql.GRAPHQL_MAX_RESPONSE_BYTES,
      inflightBodyBytes: graphql.GRAPHQL_INFLIGHT_BODY_BYTES,
      inflightResponseBytes: graphql.GRAPHQL_INFLIGHT_RESPONSE_BYTES,
      wsMaxPayloadBytes: graphql.WS_MAX_PAYLOAD_BYTES,
      wsMaxInitBytes: graphql.WS_MAX_INIT_PAYLOAD_BYTES,
      wsInflightBytes: graphql.WS_INFLIGHT_BYTES,
      wsMaxConnections: graphql.WS_MAX_CONNECTIONS,
      jsonMaxDepth: graphql.JSON_MAX_DEPTH,
      webhookJsonMaxDepth: graphql.WEBHOOK_JSON_MAX_DEPTH,
      wsMaxBufferedBytes: graphql.WS_MAX_BUFFERED_BYTES,
      wsMaxMessagesPerSecond: graphql.WS_MAX_MESSAGES_PER_SECOND,
      wsMessageBurst: graphql.WS_MESSAGE_BURST,
    },
    dispatch: {
      maxAttempts: dispatch.DISPATCH_MAX_ATTEMPTS,
      leaseMs: dispatch.DISPATCH_LEASE_MS,
      backoffBaseMs: dispatch.DISPATCH_BACKOFF_BASE_MS,
      backoffMaxMs: dispatch.DISPATCH_BACKOFF_MAX_MS,
      concurrency: dispatch.DISPATCH_CONCURRENCY,
      contentBudgetChars: dispatch.DISPATCH_CONTENT_BUDGET_CHARS,
      schedulerIntervalMs: dispatch.SCHEDULER_INTERVAL_MS,
      requeueAfterMs: dispatch.REQUEUE_AFTER_MS,
      providerTimeoutMs: dispatch.PROVIDER_TIMEOUT_MS,
      routesTtlMs: dispatch.CHANNEL_CONFIG_ROUTES_TTL_MS,
      scheduleMaxAheadDays: dispatch.SCHEDULE_MAX_AHEAD_DAYS,
      rateLimits: Object.fromEntries(
        (dispatch.PROVIDER_RATE_LIMITS ?? '')
          .split(',')
          .filter((pair) => pair.includes('='))
          .map((pair) => pair.split('=').map((part) => part.trim()))
          .map(([id, perSecond]) => [id, Number(perSecond)]),
      ),
    },
  };
}

let parsed: Config | undefined;
/** The configuration of this process, parsed once on first use. */
export const env = (): Config => (parsed ??= parseConfig(process.env));
