import type { RequestHandler } from 'express';
import { isAllowed } from '../resolvers/scopes';
import type { Authenticate } from './auth';

/**
 * Express guard for operator routes (the sandbox's recordings and fault injection): a valid Bearer token with
 * `admin`. Answers 401 `{"error": ...}` without a valid token, 403 with one lacking `admin`.
 */
export function requireAdmin(authenticate: Authenticate): RequestHandler {
  return (req, res, next) => {
    authenticate(req.headers.authorization).then(
      (caller) => {
        if (isAllowed(caller.scopes, ['admin'])) {
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
