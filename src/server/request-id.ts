import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler } from 'express';

/**
 * An incoming `x-request-id` Herald keeps: 1–128 characters of letters, digits and `-_.:/+=@` (UUIDs, ULIDs, trace
 * ids, AWS/Heroku request ids). Anything else (longer, control characters, spaces) is replaced, since the id is
 * echoed in a response header, written to logs and stored in the audit trail.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9\-_.:/+=@]{1,128}$/;

const REQUEST_ID = Symbol('heraldRequestId');

/** The incoming id when it is sane, else a fresh UUID. */
export function pickRequestId(incoming: string | string[] | undefined): string {
  const value = Array.isArray(incoming) ? incoming[0] : incoming;
  return value !== undefined && SANE_REQUEST_ID.test(value) ? value : randomUUID();
}

/**
 * Gives every HTTP request an id (an incoming sane `x-request-id`, else a UUID), echoes it in the `x-request-id`
 * response header and keeps it for requestIdOf: GraphQL puts it on the Caller (audit rows, logs).
 */
export function requestIdMiddleware(): RequestHandler {
  return (req, res, next) => {
    const id = pickRequestId(req.headers['x-request-id']);
    (req as Request & { [REQUEST_ID]?: string })[REQUEST_ID] = id;
    res.setHeader('x-request-id', id);
    next();
  };
}

/** The id requestIdMiddleware gave this request (a fresh UUID if it did not run). */
export function requestIdOf(req: Request): string {
  return (req as Request & { [REQUEST_ID]?: string })[REQUEST_ID] ?? randomUUID();
}
