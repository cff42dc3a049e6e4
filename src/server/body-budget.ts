import type { RequestHandler } from 'express';
import { ContentBudget } from '../services/content-budget';

/**
 * Bytes of GraphQL request bodies one process holds at once (GRAPHQL_INFLIGHT_BODY_BYTES). A body of 2 MB (an email's
 * html and text, allowed) becomes many copies on its way to PostgreSQL (the bytes, the parsed object, the checked
 * send, the rows' JSON): forty of them at once ran a 192 MB API out of memory. A request reserves its declared length
 * (or the body limit, when it declares none) before its body is read; one that finds no room within `waitMs` is
 * answered 503 SERVICE_UNAVAILABLE with Retry-After, nothing read or stored. Small requests (almost all) never wait
 * behind a large one for long: the budget serves arrivals in order and a 2 MB body is done in milliseconds.
 */
export function bodyBudget(options: {
  capacityBytes: number;
  bodyLimitBytes: number;
  waitMs: number;
}): RequestHandler {
  const budget = new ContentBudget(options.capacityBytes);
  return (req, res, next) => {
    if (req.method !== 'POST') return next();
    const declared = Number(req.headers['content-length']);
    const bytes = Number.isFinite(declared) && declared >= 0 ? declared : options.bodyLimitBytes;
    // Bodies over the limit are refused by the parser without being held: they reserve nothing.
    if (bytes > options.bodyLimitBytes) return next();
    void budget.acquire(bytes, options.waitMs).then((lease) => {
      if (!lease) {
        res
          .status(503)
          .set('Retry-After', '1')
          .json({
            errors: [
              {
                message: 'this process holds its most request bodies in flight; retry shortly',
                extensions: { code: 'SERVICE_UNAVAILABLE' },
              },
            ],
          });
        return;
      }
      res.once('close', () => lease.release());
      next();
    });
  };
}
