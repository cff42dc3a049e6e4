import { createServer, type Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import type { GraphQLSchema } from 'graphql';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { WebSocketServer } from 'ws';
import type { Config } from '../config/env';
import type { Logger } from '../config/logger';
import { SANDBOX_SENDGRID_WEBHOOK_KEYS } from '../config/sandbox';
import { ProviderEmulator, SANDBOX_EMULATOR_CREDENTIALS } from '../sandbox/emulator';
import type { GraphQLContext } from '../resolvers';
import { createLoaders } from '../resolvers/loaders';
import type { Services } from '../services';
import type { BufferStats } from '../services/status-buffer';
import { createUnsubscribeRouter } from '../webhooks/unsubscribe.router';
import { createWebhooksRouter } from '../webhooks/webhooks.router';
import { createAuthenticator } from './auth';
import { createFormatError } from './format-error';
import { attachGraphqlWs } from './graphql-ws';
import { ApiRateLimiter, rateLimitPlugin } from './rate-limit';
import { adminOf, requireAdmin } from './require-admin';
import { jsonErrorHandler, jsonNotFound } from './http-errors';
import { verifyJsonDepth } from '../services/json-depth';
import { queryLimitsPlugin, withTokenLimitErrors } from './query-limits';
import { bodyBudget } from './body-budget';
import { requestIdMiddleware, requestIdOf } from './request-id';
import { auditExportHandler } from './audit-export';

/** Largest GraphQL request body (2 MiB): one email's html and text at their 1 MB caps, with room for the rest. */
const GRAPHQL_BODY_LIMIT_BYTES = 2 * 1024 * 1024;
import { responseSizePlugin } from './response-size';
import { responseBudgetPlugin } from './response-budget';

export interface HealthChecks {
  postgres(): Promise<boolean>;
  redis(): Promise<boolean>;
}

export interface HttpApp {
  server: Server;
  /** The built-in emulator when any channel runs in sandbox mode. */
  emulator?: ProviderEmulator;
  websockets: WebSocketServer;
  close(): Promise<void>;
}

/** One HTTP server: GraphQL over HTTP and websockets on /graphql, health, readiness, metrics, and the sandbox. */
export async function createHttpApp(options: {
  config: Config;
  logger: Logger;
  schema: GraphQLSchema;
  services: Services;
  checks: HealthChecks;
}): Promise<HttpApp> {
  const { config, logger, schema, services, checks } = options;
  const app = express();
  app.disable('x-powered-by');
  // First: every route (GraphQL, webhooks, unsubscribe links, the audit export) knows its request's id.
  app.use(requestIdMiddleware());
  const httpServer = createServer(app);
  const authenticate = createAuthenticator(config.auth);
  const formatError = withTokenLimitErrors(createFormatError(logger), config.graphql);
  const limiter = new ApiRateLimiter(config, services.deps.redis, logger);
  /** How long a shutdown lets running HTTP requests and websocket closing handshakes finish. */
  const httpGraceMs = Math.floor(config.server.shutdownTimeoutMs / 2);
  const ws = attachGraphqlWs({
    httpServer,
    schema,
    services,
    authenticate,
    formatError,
    logger,
    limits: config.graphql,
    limiter,
  });

  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    formatError,
    includeStacktraceInErrorResponses: false,
    introspection: true,
    // Apollo's own lines (e.g. "Enabling inline tracing for this subgraph") go through pino as JSON like the rest.
    logger: logger.child({ component: 'apollo' }),
    parseOptions: { maxTokens: config.graphql.maxTokens },
    // main.ts owns SIGTERM: it drains HTTP, websockets, jobs, queues and the ORM in order (runtime/herald.ts).
    stopOnTerminationSignals: false,
    plugins: [
      // On stop: no new connection; idle keep-alive connections are ended at once, busy ones after their request;
      // whatever still runs after the grace is destroyed. Half the shutdown budget, so jobs and the database close
      // within SHUTDOWN_TIMEOUT_MS.
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: httpGraceMs }),
      { serverWillStart: () => Promise.resolve({ drainServer: () => ws.dispose(httpGraceMs) }) },
      queryLimitsPlugin(schema, config.graphql),
      rateLimitPlugin(limiter),
      responseBudgetPlugin(),
      responseSizePlugin(config.graphql.maxResponseBytes),
    ],
  });
  await apollo.start();

  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'herald_' });
  metrics.registerMetric(limiter.unavailableTotal);
  metrics.registerMetric(limiter.refusedTotal);
  metrics.registerMetric(services.webhooks.unknowns.counter);
  const subscriptionGauge = (name: string, help: string, read: (stats: BufferStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [metrics],
      collect() {
        this.set(read(services.subscriptions.stats()));
      },
    });
  subscriptionGauge('herald_subscriptions', 'Live messageStatusChanged subscriptions', (s) => s.subscribers);
  subscriptionGauge(
    'herald_subscription_buffered_events',
    'Status events waiting for slow subscribers',
    (s) => s.buffered,
  );
  subscriptionGauge(
    'herald_subscription_coalesced_events_total',
    'Events replaced by a newer status of the same message',
    (s) => s.coalesced,
  );
  subscriptionGauge(
    'herald_subscription_dropped_events_total',
    'Events dropped from overflowing subscriber buffers',
    (s) => s.dropped,
  );
  new Gauge({
    name: 'herald_status_publishes_dropped_total',
    help: 'Status and alert publishes dropped because Redis was unreachable (PostgreSQL keeps every status)',
    registers: [metrics],
    collect() {
      this.set(services.deps.pubsub.droppedPublishes());
    },
  });

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/ready', async (_req, res) => {
    const [postgres, redis] = await Promise.all([checks.postgres(), checks.redis()]);
    const dependencies = { postgres: postgres ? 'up' : 'down', redis: redis ? 'up' : 'down' };
    // Provider health is reported, not gated on: with a provider down this process still accepts, stores and fails
    // over, so taking it out of the load balancer would only turn a degraded channel into an outage.
    const providers = redis
      ? await services.queries.providers().then(
          (list) =>
            Object.fromEntries(
              list
                .filter((p) => p.configured && p.priority !== null)
                .map((p) => [p.id, { circuit: p.circuit, healthy: p.healthy, errorRate: p.errorRate }]),
            ),
          () => undefined,
        )
      : undefined;
    res
      .status(postgres && redis ? 200 : 503)
      .json({ status: postgres && redis ? 'healthy' : 'degraded', services: dependencies, providers });
  });
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.contentType).send(await metrics.metrics());
  });

  app.get('/admin/audit.jsonl', auditExportHandler(authenticate, services, logger));

  app.use('/webhooks', createWebhooksRouter(config, services, logger));
  app.use('/unsubscribe', createUnsubscribeRouter(services, logger));

  let emulator: ProviderEmulator | undefined;
  const sandbox = [config.twilio.mode, config.sendgrid.mode, config.fcm.mode, config.aws.mode].includes(
    'sandbox',
  );
  if (sandbox && config.server.nodeEnv !== 'production') {
    emulator = new ProviderEmulator(
      // The published sandbox FCM token sends for the service-wide project only: the one Herald's FCM is set to.
      config.fcm.mode === 'sandbox'
        ? {
            ...SANDBOX_EMULATOR_CREDENTIALS,
            fcm: { ...SANDBOX_EMULATOR_CREDENTIALS.fcm, projectId: config.fcm.projectId },
          }
        : SANDBOX_EMULATOR_CREDENTIALS,
      {
        delayMs: config.delivery.sandboxCallbackDelayMs,
        sendgridEventsUrl: `${config.server.publicUrl}/webhooks/sendgrid/events`,
        sendgridPrivateKeyPem: SANDBOX_SENDGRID_WEBHOOK_KEYS.privateKeyPem,
      },
      {
        // A customer message sent to the sandbox (POST /sandbox/__emulator/twilio/inbound) reaches Herald as Twilio's
        // would, signed with the sandbox token Herald verifies with only while Twilio itself is in sandbox mode.
        twilioInboundUrl:
          config.twilio.mode === 'sandbox' ? `${config.server.publicUrl}/webhooks/twilio/inbound` : undefined,
      },
    );
    // What the sandbox recorded is every tenant's content (credentials redacted: recording-redaction.ts), and its
    // control API injects faults: with auth on, operators only. The vendor routes stay open: the SDKs call them with the
    // published sandbox credentials, never with a JWT.
    if (config.auth.enabled) {
      const adminOnly = requireAdmin(authenticate);
      app.use('/sandbox/messages', adminOnly);
      app.use('/sandbox/__emulator', adminOnly);
    }
    app.use('/sandbox', emulator.vendorRouter());
    app.get('/sandbox/messages', (_req, res) => {
      res.json(emulator!.recorded());
    });
    // A tenant's admin registers its own accounts: a Firebase project it registers first is its own (accounts.ts).
    app.use(
      '/sandbox/__emulator',
      emulator.controlRouter({ registrantOf: (_req, res) => adminOf(res)?.tenantId }),
    );
  }

  app.use(
    '/graphql',
    bodyBudget({
      capacityBytes: config.graphql.inflightBodyBytes,
      bodyLimitBytes: GRAPHQL_BODY_LIMIT_BYTES,
      waitMs: 5_000,
    }),
    // Depth is measured on the raw bytes before JSON.parse, which runs before authentication (json-depth.ts).
    express.json({ limit: GRAPHQL_BODY_LIMIT_BYTES, verify: verifyJsonDepth(config.graphql.jsonMaxDepth) }),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        try {
          const caller = { ...(await authenticate(req.headers.authorization)), requestId: requestIdOf(req) };
          const loaders = createLoaders(caller, services);
          // The content this response reserved (GRAPHQL_INFLIGHT_RESPONSE_BYTES) is held until it is written.
          res.once('close', () => loaders.release());
          return { caller, services, loaders };
        } catch (error) {
          // Thrown from context, Apollo answers with this status instead of 500.
          (error as { extensions: Record<string, unknown> }).extensions.http = { status: 401 };
          throw error;
        }
      },
    }),
  );

  // Any route not matched above (any method) answers JSON 404, not Express's HTML page.
  app.use(jsonNotFound());
  // Last: body-parser and router errors answer JSON without stacks or paths, whatever the route.
  app.use(jsonErrorHandler(logger));

  return {
    server: httpServer,
    emulator,
    websockets: ws.wsServer,
    close: async () => {
      emulator?.stop();
      await apollo.stop();
    },
  };
}
