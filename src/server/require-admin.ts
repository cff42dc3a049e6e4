import type { RequestHandler, Response } from 'express';
import { isAllowed } from '../resolvers/scopes';
import type { Caller } from '../services';
import type { Authenticate } from './auth';

/**
 * Express guard for operator routes (the sandbox's recordings and fault injection): a valid Bearer token with
 * `admin`. Answers 401 `{"error": ...}` without a valid token, 403 with one lacking `admin`. The caller it let through
 * is kept in `res.locals.caller` (read it with adminOf).
 */
export function requireAdmin(authenticate: Authenticate): RequestHandler {
  return (req, res, next) => {
    authenticate(req.headers.authorization).then(
      (caller) => {
        if (isAllowed(caller.scopes, ['admin'])) {
          res.locals.caller = caller;
          next();
          return;
        }
        res.status(403).json({ error: `${req.originalUrl.split('?')[0]} needs scope "admin"` });
      },
      (error: unknown) => {
        res.status(401).json({ error: (error as Error).message });
      },
    );
  };
}

/** The caller requireAdmin let through for this response, or undefined where no guard ran (auth off). */
export function adminOf(res: Response): Caller | undefined {
  return res.locals.caller as Caller | undefined;
}
