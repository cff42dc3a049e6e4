import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';

/** What a ResponseBudgetError (services/errors.ts) carries in `extensions.limit`. */
const LIMIT = 'GRAPHQL_INFLIGHT_RESPONSE_BYTES';

/** Seconds a client refused for lack of response room is told to wait (Retry-After), as for request bodies. */
export const RESPONSE_RETRY_AFTER_SECONDS = 1;

/**
 * The single error that replaces a result any of whose contents found no room in GRAPHQL_INFLIGHT_RESPONSE_BYTES:
 * `{ message, extensions: { code: 'SERVICE_UNAVAILABLE', limit: 'GRAPHQL_INFLIGHT_RESPONSE_BYTES' } }`; undefined
 * when the result has no such error. A partial answer (the other fields, those contents null) would read as "no
 * content"; the whole request is to be retried instead.
 */
export function responseBudgetRefusal(result: { errors?: unknown }): GraphQLFormattedError | undefined {
  const errors = (Array.isArray(result.errors) ? result.errors : []) as GraphQLFormattedError[];
  const refused = errors.find((error) => error.extensions?.limit === LIMIT);
  if (!refused) return undefined;
  return { message: refused.message, extensions: { code: 'SERVICE_UNAVAILABLE', limit: LIMIT } };
}

/**
 * Apollo Server plugin: a single result that holds a ResponseBudgetError is answered as that one error with no data,
 * HTTP 503 and `Retry-After: 1`, as a request body refused by GRAPHQL_INFLIGHT_BODY_BYTES is. Registered before
 * responseSizePlugin: a result refused for lack of room is not measured.
 */
export function responseBudgetPlugin(): ApolloServerPlugin {
  return {
    requestDidStart: () =>
      Promise.resolve({
        willSendResponse: ({ response }) => {
          if (response.body.kind !== 'single') return Promise.resolve();
          const refusal = responseBudgetRefusal(response.body.singleResult);
          if (refusal) {
            response.body.singleResult = { errors: [refusal] };
            response.http.status = 503;
            response.http.headers.set('retry-after', String(RESPONSE_RETRY_AFTER_SECONDS));
          }
          return Promise.resolve();
        },
      }),
  };
}
