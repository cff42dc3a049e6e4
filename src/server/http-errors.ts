import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../config/logger';

/** What body-parser (express.json / raw / urlencoded) attaches to the errors it raises. */
interface BodyParserError {
  type?: string;
  status?: number;
  statusCode?: number;
  limit?: number;
}

const body = (message: string, code: string) => ({ errors: [{ message, extensions: { code } }] });

/**
 * The app's last middleware. Express's own handler answers HTML with the stack and file paths outside production;
 * this one answers every error as JSON in the GraphQL error shape and never includes a stack or a path:
 * malformed JSON, or JSON nested past JSON_MAX_DEPTH (src/services/json-depth.ts) → 400 BAD_REQUEST, a body over the
 * route's limit → 413 PAYLOAD_TOO_LARGE, another client error (body-parser's 4xx: bad charset or encoding, aborted
 * request) → its status with BAD_REQUEST, anything else → 500 INTERNAL_SERVER_ERROR with the details only in the log.
 */
export function jsonErrorHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const parserError = (error ?? {}) as BodyParserError;
    const status = parserError.status ?? parserError.statusCode;
    if (parserError.type === 'entity.parse.failed') {
      res.status(400).json(body('request body is not valid JSON', 'BAD_REQUEST'));
      return;
    }
    if (parserError.type === 'entity.too.deep') {
      res.status(400).json(body((error as Error).message, 'BAD_REQUEST'));
      return;
    }
    if (parserError.type === 'entity.too.large') {
      const limit = parserError.limit ? ` of ${parserError.limit} bytes` : '';
      res.status(413).json(body(`request body exceeds the limit${limit}`, 'PAYLOAD_TOO_LARGE'));
      return;
    }
    if (typeof status === 'number' && status >= 400 && status < 500) {
      res.status(status).json(body('bad request', 'BAD_REQUEST'));
      return;
    }
    logger.error({ err: error, path: req.path }, 'unhandled HTTP error');
    res.status(500).json(body('Internal server error', 'INTERNAL_SERVER_ERROR'));
  };
}

/**
 * After every route: an unknown path, whatever the method, answers 404 JSON in the GraphQL error shape (code
 * NOT_FOUND) instead of Express's HTML "Cannot GET /x". The path is not echoed back (it may be megabytes).
 */
export function jsonNotFound() {
  return (req: Request, res: Response): void => {
    res.status(404).json(body(`no route for ${req.method.slice(0, 16)} on this path`, 'NOT_FOUND'));
  };
}
