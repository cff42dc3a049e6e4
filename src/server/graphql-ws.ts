import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import {
  getOperationAST,
  GraphQLError,
  OperationTypeNode,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import type { Context } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Logger } from '../config/logger';
import type { GraphQLContext } from '../resolvers';
import { createLoaders, type Loaders } from '../resolvers/loaders';
import type { Caller, Services } from '../services';
import type { Authenticate } from './auth';
import type { ApiRateLimiter } from './rate-limit';
import { checkQueryLimits, type QueryLimits } from './query-limits';
import { DocumentCache } from './document-cache';
import { checkResponseSize } from './response-size';
import { responseBudgetRefusal } from './response-budget';
import { guardWebsockets } from './ws-guard';

type FormatError = (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;

/**
 * graphql-ws on the same HTTP server and path as Apollo. Its execution path bypasses Apollo's request pipeline, so
 * authentication, validation, query limits and error masking are applied here the same way.
 */
export function attachGraphqlWs(options: {
  httpServer: Server;
  schema: GraphQLSchema;
  services: Services;
  authenticate: Authenticate;
  formatError: FormatError;
  logger: Logger;
  limits: QueryLimits & {
    maxResponseBytes: number;
    wsMaxPayloadBytes: number;
    wsMaxInitBytes: number;
    wsInflightBytes: number;
    wsMaxConnections: number;
    jsonMaxDepth: number;
    wsMaxBufferedBytes: number;
    wsMaxMessagesPerSecond: number;
    wsMessageBurst: number;
  };
  limiter: ApiRateLimiter;
}) {
  const { schema, services, authenticate, formatError, logger, limits, limiter } = options;
  // ws buffers a whole message before anyone sees it, before authentication: its default of 100 MiB lets one
  // unauthenticated frame exhaust the heap. Past maxPayload, ws closes the socket with 1009 (message too big).
  const wsServer = new WebSocketServer({
    server: options.httpServer,
    path: '/graphql',
    maxPayload: limits.wsMaxPayloadBytes,
  });
  // Before useServer: its 'connection' listener must find every socket already guarded.
  const guard = guardWebsockets(
    wsServer,
    {
      maxDepth: limits.jsonMaxDepth,
      maxBufferedBytes: limits.wsMaxBufferedBytes,
      maxMessagesPerSecond: limits.wsMaxMessagesPerSecond,
      messageBurst: limits.wsMessageBurst,
      maxInitBytes: limits.wsMaxInitBytes,
      inflightBytes: limits.wsInflightBytes,
      maxConnections: limits.wsMaxConnections,
    },
    logger,
  );
  const documents = new DocumentCache(schema, limits.maxTokens);
  const callers = new WeakMap<Context, Caller>();
  const expiryTimers = new WeakMap<Context, { cancel(): void }>();
  /** Each operation's loaders, whose content reservations are given back when it completes or the socket closes. */
  const operations = new WeakMap<Context, Map<string, Loaders>>();
  const releaseOperation = (ctx: Context, id: string) => {
    operations.get(ctx)?.get(id)?.release();
    operations.get(ctx)?.delete(id);
  };
  const format = (errors: readonly GraphQLError[]) =>
    errors.map((error) => {
      const formatted = formatError(error.toJSON(), error);
      return new GraphQLError(formatted.message, { path: formatted.path, extensions: formatted.extensions });
    });

  const cleanup = useServer(
    {
      schema,
      onConnect: async (ctx) => {
        const authorization = ctx.connectionParams?.authorization;
        let caller: Caller;
        try {
          caller = await authenticate(typeof authorization === 'string' ? authorization : undefined);
        } catch (error) {
          logger.info({ reason: (error as Error).message }, 'websocket connection refused');
          return false;
        }
        callers.set(ctx, caller);
        const socket = (ctx.extra as Extra).socket;
        // From now on its messages are bounded by WS_MAX_PAYLOAD_BYTES, no longer by WS_MAX_INIT_PAYLOAD_BYTES.
        guard.acknowledge(socket);
        if (caller.expiresAt !== undefined) {
          // The token was checked once, at connect: the socket may not outlive it (4403 as graphql-ws's Forbidden).
          expiryTimers.set(
            ctx,
            atTime(caller.expiresAt, () => socket.close(4403, 'Forbidden: token expired')),
          );
        }
        return true;
      },
      onClose: (ctx) => {
        expiryTimers.get(ctx)?.cancel();
        expiryTimers.delete(ctx);
        for (const id of operations.get(ctx)?.keys() ?? []) releaseOperation(ctx, id);
      },
      context: (ctx, id): GraphQLContext => {
        // One id per operation: a socket carries many, each its own request in the audit trail.
        const caller = { ...callers.get(ctx)!, requestId: randomUUID() };
        const loaders = createLoaders(caller, services, { cache: false });
        if (!operations.has(ctx)) operations.set(ctx, new Map());
        operations.get(ctx)!.set(id, loaders);
        return { caller, services, loaders };
      },
      onComplete: (ctx, id) => releaseOperation(ctx, id),
      onSubscribe: async (ctx, _id, payload) => {
        let document: DocumentNode;
        try {
          document = documents.parse(payload.query);
        } catch (error) {
          // With its source, as over HTTP: formatError masks the token text of a document that may carry secrets.
          const { source, positions } = error instanceof GraphQLError ? error : {};
          return format([
            new GraphQLError((error as Error).message, {
              source,
              positions,
              extensions: { code: 'GRAPHQL_PARSE_FAILED' },
            }),
          ]);
        }
        // A caller whose budget is known spent is refused before validation, the costly step (a third of a
        // millisecond each): a socket churning subscribe/complete past its budget costs a parse and a lookup each.
        const spent = limiter.refuseIfSpent(callers.get(ctx)!, document, payload.operationName);
        if (spent) return format([spent]);
        const errors = documents.validate(document);
        if (errors.length > 0) {
          return format(
            errors.map(
              (e) =>
                new GraphQLError(e.message, {
                  nodes: e.nodes,
                  extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
                }),
            ),
          );
        }
        // The same depth, alias and cost limits as over HTTP, before anything runs (and before it counts).
        const refusals = checkQueryLimits(schema, limits, {
          document,
          variables: payload.variables ?? undefined,
          operationName: payload.operationName,
        });
        if (refusals.length > 0) return format(refusals);
        const limited = await limiter.checkSocketOperation(
          ctx,
          callers.get(ctx)!,
          document,
          payload.operationName,
        );
        if (limited) return format([limited]);
        // Handed over as parsed and validated: otherwise graphql-ws would parse (without the token limit) and
        // validate the document a second time.
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
        };
      },
      onNext: (_ctx, _id, _payload, args, result) => {
        // graphql-ws serializes and sends the result right after this returns, in the same turn of the event loop:
        // its content reservations are given back after that (a subscription reserves anew for its next event).
        const loaders = (args.contextValue as GraphQLContext).loaders;
        setImmediate(() => loaders.release());
        const busy = responseBudgetRefusal(result);
        if (busy) return { errors: [new GraphQLError(busy.message, { extensions: busy.extensions })] };
        // The same response size limit as over HTTP, before graphql-ws serializes the message.
        const tooLarge = checkResponseSize(
          result,
          limits.maxResponseBytes,
          getOperationAST(args.document, args.operationName)?.operation === OperationTypeNode.MUTATION,
        );
        if (tooLarge) {
          return { errors: [new GraphQLError(tooLarge.message, { extensions: tooLarge.extensions })] };
        }
        const errors = (result as ExecutionResult).errors;
        if (!errors?.length) return undefined;
        return { ...(result as ExecutionResult), errors: format(errors) };
      },
      onError: (_ctx, _id, _payload, errors) => format(errors),
    },
    wsServer,
  );

  return {
    wsServer,
    /**
     * Closes every socket with 1001 (going away) and waits for the closing handshakes; a client that does not answer
     * within `graceMs` is cut (ws would otherwise wait 30 s for it).
     */
    dispose: async (graceMs: number) => {
      const cut = setTimeout(() => {
        for (const socket of wsServer.clients) socket.terminate();
      }, graceMs);
      try {
        await cleanup.dispose();
      } finally {
        clearTimeout(cut);
      }
    },
  };
}

/** Node timers hold at most 2^31-1 ms (~24.8 days; longer ones fire at once), so a far deadline is reached in hops. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Runs `fire` at `deadline` (ms since epoch) without keeping the process alive; `cancel` stops it. */
function atTime(deadline: number, fire: () => void): { cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      fire();
      return;
    }
    timer = setTimeout(arm, Math.min(remaining, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}
