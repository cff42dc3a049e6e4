import type { ApolloServerPlugin } from '@apollo/server';
import { OperationTypeNode, type GraphQLFormattedError } from 'graphql';

/**
 * Bytes charged per value on top of its text: punctuation, quotes and a short key. Small on purpose, so a response
 * of many tiny values is not overestimated; long keys and strings are charged by their length.
 */
const PER_VALUE_OVERHEAD = 8;

/**
 * Estimates the JSON size of a GraphQL result without serializing it: the lengths of its strings and keys plus
 * PER_VALUE_OVERHEAD per value, walked iteratively (no recursion, so any depth is safe; no copy of the strings).
 * Lengths are UTF-16 code units, equal to UTF-8 bytes for ASCII and an underestimate of at most 3× otherwise.
 * Stops once the estimate passes `stopAt` (bytes) and returns what it had counted, so a cyclic value (which a
 * result never is) cannot loop forever.
 */
export function estimateResponseBytes(value: unknown, stopAt: number): number {
  let total = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0 && total <= stopAt) {
    const current = pending.pop();
    total += PER_VALUE_OVERHEAD;
    if (typeof current === 'string') {
      total += current.length;
    } else if (Array.isArray(current)) {
      for (const item of current as unknown[]) pending.push(item);
    } else if (current !== null && typeof current === 'object') {
      for (const key in current) {
        if (!Object.prototype.hasOwnProperty.call(current, key)) continue;
        total += key.length;
        pending.push((current as Record<string, unknown>)[key]);
      }
    }
  }
  return total;
}

const MIB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(bytes < 10 * MIB ? 1 : 0)} MB`;

/**
 * The error that replaces a result over GRAPHQL_MAX_RESPONSE_BYTES, already formatted (it is built after
 * formatError ran): `{ message, extensions: { code: 'BAD_USER_INPUT', limit, max, found } }`, sizes in bytes.
 * A mutation has already run when its response is measured, and the message says so.
 */
export function responseTooLargeError(
  estimated: number,
  maxBytes: number,
  isMutation: boolean,
): GraphQLFormattedError {
  const ran = isMutation ? 'the mutation ran, but ' : '';
  return {
    message:
      `${ran}the response would be about ${mib(estimated)}, over the limit of ${mib(maxBytes)} ` +
      '(GRAPHQL_MAX_RESPONSE_BYTES): ask for fewer items or fields',
    extensions: {
      code: 'BAD_USER_INPUT',
      limit: 'GRAPHQL_MAX_RESPONSE_BYTES',
      max: maxBytes,
      found: estimated,
    },
  };
}

/**
 * Measures a result (`data` and `errors`) against `maxBytes`; returns the replacing error when it is over, else
 * undefined. The cost limit counts objects, not bytes: a few aliases over messages with 1 MB contents pass it
 * and would build a response hundreds of MB long, which is what this bounds.
 */
export function checkResponseSize(
  result: { data?: unknown; errors?: unknown },
  maxBytes: number,
  isMutation: boolean,
): GraphQLFormattedError | undefined {
  // Walked to the end (within reason) so the message can say how large it would have been.
  // Content the loader refused to read (ContentTooLargeError) counts with what it would have weighed.
  const errors = (Array.isArray(result.errors) ? result.errors : []) as {
    extensions?: Record<string, unknown>;
  }[];
  const refusedContent = errors.reduce(
    (most, error) =>
      error.extensions?.limit === 'GRAPHQL_MAX_RESPONSE_BYTES' && typeof error.extensions.found === 'number'
        ? Math.max(most, error.extensions.found)
        : most,
    0,
  );
  const estimated = Math.max(estimateResponseBytes(result, maxBytes * 64), refusedContent);
  return estimated > maxBytes ? responseTooLargeError(estimated, maxBytes, isMutation) : undefined;
}

/**
 * Apollo Server plugin: in `willSendResponse`, which Apollo Server 5 runs before it serializes the body
 * (requestPipeline's invokeWillSendResponse, then runHttpQuery's stringifyResult), a single result over
 * `maxBytes` is replaced by one BAD_USER_INPUT error and no data, with HTTP 400.
 */
export function responseSizePlugin(maxBytes: number): ApolloServerPlugin {
  return {
    requestDidStart: () =>
      Promise.resolve({
        willSendResponse: ({ response, operation }) => {
          if (response.body.kind !== 'single') return Promise.resolve();
          const refusal = checkResponseSize(
            response.body.singleResult,
            maxBytes,
            operation?.operation === OperationTypeNode.MUTATION,
          );
          if (refusal) {
            response.body.singleResult = { errors: [refusal] };
            response.http.status = 400;
          }
          return Promise.resolve();
        },
      }),
  };
}
