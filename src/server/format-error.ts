import type { GraphQLFormattedError } from 'graphql';
import { GraphQLError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import type { Logger } from '../config/logger';
import { isConnectionError, isUnstorableTextError } from '../services/errors';
import { documentTextOf, maskQuotedText, maskValuesInMessage, mayCarrySecrets } from './secret-values';

/** Codes that carry a message meant for the caller; anything else is masked (details only in logs). */
const PUBLIC_CODES = new Set([
  'BAD_USER_INPUT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'OUTSIDE_SERVICE_WINDOW',
  'NOT_CANCELLABLE',
  'RATE_LIMITED',
  'PROVIDER_NOT_CONFIGURED',
  'BUDGET_EXCEEDED',
  'SERVICE_UNAVAILABLE',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

/**
 * The formatError of HTTP (Apollo) and websockets (graphql-ws.ts). For a document that may carry channel-config
 * secrets, the values graphql-js quotes in its messages are masked (secret-values.ts) in the answer and in the log
 * line alike.
 */
export function createFormatError(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const located = error instanceof GraphQLError ? error : undefined;
    const documentText = located ? documentTextOf(located) : undefined;
    if (located && documentText !== undefined && mayCarrySecrets(documentText)) {
      formatted = { ...formatted, message: maskValuesInMessage(located) };
      return formatAndLog(formatted, error, maskedForLog);
    }
    return formatAndLog(formatted, error, (err) => err);
  };

  function formatAndLog(
    formatted: GraphQLFormattedError,
    error: unknown,
    loggable: (err: unknown) => unknown,
  ): GraphQLFormattedError {
    const original = unwrapResolverError(error);
    const code = formatted.extensions?.code;
    if (
      typeof code === 'string' &&
      PUBLIC_CODES.has(code) &&
      (original instanceof GraphQLError || code !== 'INTERNAL_SERVER_ERROR')
    ) {
      const { stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    if (isApolloRequestError(original)) {
      // Apollo Server's own refusal of the request (a persisted query of another version, a hash that does not
      // match its query, ...): the client's mistake, so its message is the answer and nothing is wrong here.
      logger.info({ reason: formatted.message }, 'request refused by Apollo Server');
      const { stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions: { ...extensions, code: 'BAD_REQUEST' } };
    }
    if (isConnectionError(original)) {
      logger.error({ err: loggable(original), path: formatted.path }, 'dependency unreachable');
      return {
        message: 'PostgreSQL or Redis is unreachable, retry later',
        path: formatted.path,
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      };
    }
    if (isUnstorableTextError(original)) {
      logger.warn({ err: loggable(original), path: formatted.path }, 'unstorable text reached PostgreSQL');
      return {
        message:
          'an argument contains a NUL character (U+0000) or a lone UTF-16 surrogate, which cannot be stored or searched',
        path: formatted.path,
        extensions: { code: 'BAD_USER_INPUT' },
      };
    }
    logger.error({ err: loggable(original), path: formatted.path }, 'internal error');
    return {
      message: 'Internal server error',
      path: formatted.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  }
}

/**
 * An error Herald did not word itself (a dependency's, a bug's), about a document that may carry secrets, as a log
 * line may show it: its type, and its message and stack with every quoted segment masked (where its values sit is
 * unknown). Anything that is not an Error is logged by type only.
 */
function maskedForLog(err: unknown): unknown {
  if (!(err instanceof Error)) return { type: typeof err };
  return {
    type: err.name,
    message: maskQuotedText(err.message),
    stack: err.stack === undefined ? undefined : maskQuotedText(err.stack),
    ...('code' in err && typeof err.code === 'string' ? { code: err.code } : {}),
  };
}

/**
 * A GraphQLError Apollo Server raises about the request itself without a code, only an HTTP 4xx status in
 * `extensions.http` (requestPipeline.js: "Unsupported persisted query version", "provided sha does not match
 * query"). Ours and Apollo's coded errors (BadRequestError, PersistedQueryNotFoundError, ...) always carry a code.
 */
function isApolloRequestError(error: unknown): error is GraphQLError {
  if (!(error instanceof GraphQLError) || error.extensions.code !== undefined) return false;
  const status = (error.extensions.http as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}
