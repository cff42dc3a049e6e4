import type { Server } from 'node:http';
import {
  GraphQLError,
  parse,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import type { Context } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Logger } from '../config/logger';
import type { GraphQLContext } from '../resolvers';
import { createLoaders } from '../resolvers/loaders';
import type { Caller, Services } from '../services';
import type { Authenticate } from './auth';
import { checkQueryLimits, type QueryLimits } from './query-limits';

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
  limits: QueryLimits;
}) {
  const { schema, services, authenticate, formatError, logger, limits } = options;
  const wsServer = new WebSocketServer({ server: options.httpServer, path: '/graphql' });
  const callers = new WeakMap<Context, Caller>();
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
        try {
          callers.set(ctx, await authenticate(typeof authorization === 'string' ? authorization : undefined));
          return true;
        } catch (error) {
          logger.info({ reason: (error as Error).message }, 'websocket connection refused');
          return false;
        }
      },
      context: (ctx): GraphQLContext => {
        const caller = callers.get(ctx)!;
        return { caller, services, loaders: createLoaders(caller, services, { cache: false }) };
      },
      onSubscribe: (_ctx, _id, payload) => {
        let document: DocumentNode;
        try {
          document = parse(payload.query, { maxTokens: limits.maxTokens });
        } catch (error) {
          return format([
            new GraphQLError((error as Error).message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } }),
          ]);
        }
        const errors = validate(schema, document);
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
        // The same depth, alias and cost limits as over HTTP, before anything runs.
        const refusals = checkQueryLimits(schema, limits, {
          document,
          variables: payload.variables ?? undefined,
          operationName: payload.operationName,
        });
        return refusals.length > 0 ? format(refusals) : undefined;
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
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
    dispose: async () => {
      await cleanup.dispose();
    },
  };
}
