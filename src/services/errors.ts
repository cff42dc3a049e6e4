import { GraphQLError } from 'graphql';

/** GraphQL errors with the literal codes of CONTRACT.md. Vendor and database details stay in logs. */
export class BadUserInputError extends GraphQLError {
  constructor(message: string, field?: string) {
    super(message, { extensions: { code: 'BAD_USER_INPUT', ...(field ? { field } : {}) } });
  }
}

export class NotFoundError extends GraphQLError {
  constructor(message: string) {
    super(message, { extensions: { code: 'NOT_FOUND' } });
  }
}

export class UnauthenticatedError extends GraphQLError {
  constructor(message = 'a valid bearer token is required') {
    super(message, { extensions: { code: 'UNAUTHENTICATED' } });
  }
}

export class ConflictError extends GraphQLError {
  constructor(message: string, field?: string) {
    super(message, { extensions: { code: 'CONFLICT', ...(field ? { field } : {}) } });
  }
}

export class NotCancellableError extends GraphQLError {
  constructor(message: string, messageIds: string[]) {
    super(message, { extensions: { code: 'NOT_CANCELLABLE', messageIds } });
  }
}

export class BudgetExceededError extends GraphQLError {
  constructor(message: string, details: { period: string; budget: number; spent: number; cost: number }) {
    super(message, { extensions: { code: 'BUDGET_EXCEEDED', ...details } });
  }
}

/**
 * A free-form WhatsApp message to a number that has not written to Herald's WhatsApp sender in the last 24 hours
 * (WhatsApp's customer service window; Twilio refuses such a send with error 63016). `extensions`:
 * `{ code: 'OUTSIDE_SERVICE_WINDOW', field, lastInboundAt: ISO time or null, windowClosedAt: ISO time or null }`.
 */
export class OutsideServiceWindowError extends GraphQLError {
  constructor(
    message: string,
    details: { field: string; lastInboundAt: Date | null; windowClosedAt: Date | null },
  ) {
    super(message, {
      extensions: {
        code: 'OUTSIDE_SERVICE_WINDOW',
        field: details.field,
        lastInboundAt: details.lastInboundAt?.toISOString() ?? null,
        windowClosedAt: details.windowClosedAt?.toISOString() ?? null,
      },
    });
  }
}

export class ServiceUnavailableError extends GraphQLError {
  constructor(what: string) {
    super(`${what} is unreachable: nothing was accepted, retry later`, {
      extensions: { code: 'SERVICE_UNAVAILABLE' },
    });
  }
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

/** Whether an error means PostgreSQL could not be reached (rather than a bug or a constraint). */
export function isConnectionError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
    const message = (current as { message?: unknown }).message;
    if (
      typeof message === 'string' &&
      /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Client has encountered a connection error/i.test(
        message,
      )
    ) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** A request over its rate limit (HTTP 429 with Retry-After, or an error message over websockets). */
export class RateLimitedError extends GraphQLError {
  constructor(message: string, details: Record<string, unknown> = {}, http?: { status: number }) {
    super(message, { extensions: { code: 'RATE_LIMITED', ...details, ...(http ? { http } : {}) } });
  }
}

export class ForbiddenError extends GraphQLError {
  constructor(message: string) {
    super(message, { extensions: { code: 'FORBIDDEN' } });
  }
}

/** One item of a group that could not be stored for a reason of its own; details only in logs. */
export class ItemNotStoredError extends GraphQLError {
  constructor() {
    super('this item could not be stored (details in the server log); the others were not affected', {
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  }
}

/**
 * `Message.content` of more messages than one response may carry (GRAPHQL_MAX_RESPONSE_BYTES), refused per field
 * before the content is read. `extensions`: `{ code: 'BAD_USER_INPUT', limit: 'GRAPHQL_MAX_RESPONSE_BYTES', max, found }`.
 * The response-size check (server/response-size.ts) then refuses the whole response, as for any response too large.
 */
export class ContentTooLargeError extends GraphQLError {
  /** @param found bytes of content the request asked for so far (the response-size check reports the whole). */
  constructor(maxBytes: number, found: number) {
    super(
      `content: the contents asked for in this request exceed ${maxBytes.toLocaleString('en-US')} bytes (GRAPHQL_MAX_RESPONSE_BYTES); ask for fewer messages' content per request`,
      { extensions: { code: 'BAD_USER_INPUT', limit: 'GRAPHQL_MAX_RESPONSE_BYTES', max: maxBytes, found } },
    );
  }
}

/**
 * Stored content this process could not read now: the responses in flight already hold GRAPHQL_INFLIGHT_RESPONSE_BYTES
 * and none gave room within 5 s. `extensions`: `{ code: 'SERVICE_UNAVAILABLE', limit: 'GRAPHQL_INFLIGHT_RESPONSE_BYTES' }`.
 * The response-budget plugin (server/response-budget.ts) turns the whole response into this one error, HTTP 503
 * with Retry-After.
 */
export class ResponseBudgetError extends GraphQLError {
  constructor() {
    super('this process holds its most response content in flight; retry shortly', {
      extensions: { code: 'SERVICE_UNAVAILABLE', limit: 'GRAPHQL_INFLIGHT_RESPONSE_BYTES' },
    });
  }
}

/**
 * A GraphQL document refused before execution because it exceeds one of the query limits (depth, aliases, tokens,
 * cost). `extensions`: `{ code: 'BAD_USER_INPUT', limit: 'GRAPHQL_MAX_COST', max, found? }`.
 */
export class QueryLimitError extends GraphQLError {
  constructor(message: string, details: { limit: string; max: number; found?: number }) {
    super(message, { extensions: { code: 'BAD_USER_INPUT', ...details } });
  }
}

/**
 * PostgreSQL refused a string it cannot store or compare: NUL (22021 character_not_in_repertoire, 22P05
 * untranslatable_character in jsonb) or a lone surrogate in JSON (22P02 with a Unicode detail). Inputs are checked
 * before they reach the database (input-guard.ts); this is the net for a read path that was not.
 */
export function isUnstorableTextError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth += 1) {
    const { code, sqlState, message } = current as { code?: unknown; sqlState?: unknown; message?: unknown };
    const state = typeof sqlState === 'string' ? sqlState : code;
    if (state === '22021' || state === '22P05') return true;
    if (state === '22P02' && typeof message === 'string' && /unicode|surrogate/i.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
