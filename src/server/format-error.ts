import type { GraphQLFormattedError } from 'graphql';
import { GraphQLError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import type { Logger } from '../config/logger';
import { isConnectionError, isUnstorableTextError } from '../services/errors';

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

export function createFormatError(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
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
      logger.info({ reason: original.message }, 'request refused by Apollo Server');
      const { stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions: { ...extensions, code: 'BAD_REQUEST' } };
    }
    if (isConnectionError(original)) {
      logger.error({ err: original, path: formatted.path }, 'dependency unreachable');
      return {
        message: 'PostgreSQL or Redis is unreachable, retry later',
        path: formatted.path,
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      };
    }
    if (isUnstorableTextError(original)) {
      logger.warn({ err: original, path: formatted.path }, 'unstorable text reached PostgreSQL');
      return {
        message:
          'an argument contains a NUL character (U+0000) or a lone UTF-16 surrogate, which cannot be stored or searched',
        path: formatted.path,
        extensions: { code: 'BAD_USER_INPUT' },
      };
    }
    logger.error({ err: original, path: formatted.path }, 'internal error');
    return {
      message: 'Internal server error',
      path: formatted.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
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
