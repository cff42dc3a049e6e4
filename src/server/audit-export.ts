import { once } from 'node:events';
import type { RequestHandler } from 'express';
import { DateTimeResolver } from 'graphql-scalars';
import type { GraphQLError } from 'graphql';
import type { Logger } from '../config/logger';
import { isAllowed } from '../resolvers/scopes';
import type { Services } from '../services';
import { checkAuditFilter, type AuditFilterCommand } from '../services/audit-query.service';
import type { Authenticate } from './auth';

/** The export's parameters; any other is refused, so a misspelt filter never silently exports every row. */
const EXPORT_PARAMETERS = ['from', 'to', 'entity', 'entityId', 'actor'] as const;

/** 400 naming the first parameter the export does not take (`entityid`, `limit`, `actor[$eq]`, …). */
function refuseUnknown(query: Record<string, unknown>): void {
  const unknown = Object.keys(query).find((name) => !(EXPORT_PARAMETERS as readonly string[]).includes(name));
  if (unknown !== undefined)
    throw new Error(
      `${JSON.stringify(unknown.slice(0, 64))}: not a parameter of this export; it takes ${EXPORT_PARAMETERS.join(', ')}`,
    );
}

/**
 * One query parameter as a single, non-empty string: repeated (`?a=1&a=2`), nested (`?a[b]=1`) or empty (`?actor=`)
 * values are refused, since reading any of them as "no filter" would export every row to a caller who asked for some.
 */
function single(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new Error(`${name}: give it once, as text`);
  if (value === '') throw new Error(`${name}: give a value or leave the parameter out`);
  return value;
}

/**
 * A `from`/`to` parameter read as GraphQL's DateTime reads it (graphql-scalars DateTimeResolver: RFC 3339 date-time,
 * a real calendar date), so the export and `auditLog` accept the same instants; a bare date (`2026-02-01`) is that
 * day's 00:00 UTC. `2026-02-30` is refused rather than rolled over to 2 March.
 */
function dateParam(query: Record<string, unknown>, name: string): Date | undefined {
  const value = single(query, name);
  if (value === undefined) return undefined;
  try {
    return DateTimeResolver.parseValue(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  } catch {
    throw new Error(
      `${name}: ${JSON.stringify(value.slice(0, 64))} is not an RFC 3339 date-time (or a date)`,
    );
  }
}

/**
 * `GET /admin/audit.jsonl?from=&to=&entity=&entityId=&actor=`: the token tenant's audit trail as JSON lines
 * (`application/x-ndjson`; one AuditEntry per line — id, actor, occurredAt, entity, entityId, action, before, after,
 * requestId — newest first). Needs a valid Bearer token with `admin` (401 without a valid token, 403 without
 * `admin`; with auth off, the development caller's tenant `default`); a bad parameter is 400 `{"error": …}` naming it.
 * Streamed: rows are read in batches and written as the client takes them (backpressure), so an export never holds
 * the table in memory; a client that goes away stops the reads. `HEAD` runs the same token and parameter checks and
 * answers the same status and headers without reading any row (RFC 9110 §9.3.2).
 */
export function auditExportHandler(
  authenticate: Authenticate,
  services: Services,
  logger: Logger,
): RequestHandler {
  return async (req, res) => {
    let tenantId: string;
    try {
      const caller = await authenticate(req.headers.authorization);
      if (!isAllowed(caller.scopes, ['admin'])) {
        res.status(403).json({ error: `${req.path} needs scope "admin"` });
        return;
      }
      tenantId = caller.tenantId;
    } catch (error) {
      res.status(401).json({ error: (error as Error).message });
      return;
    }
    let filter: AuditFilterCommand;
    try {
      const query = req.query as Record<string, unknown>;
      refuseUnknown(query);
      filter = checkAuditFilter(
        {
          entity: single(query, 'entity'),
          entityId: single(query, 'entityId'),
          actor: single(query, 'actor'),
          from: dateParam(query, 'from'),
          to: dateParam(query, 'to'),
        },
        '',
      );
    } catch (error) {
      res.status(400).json({ error: (error as Error | GraphQLError).message });
      return;
    }
    res.status(200).type('application/x-ndjson').setHeader('cache-control', 'no-store');
    // HEAD (which express routes to this GET handler) asks for the headers only: answer them without reading a row, so
    // a HEAD costs the checks above, never a whole export whose body would be thrown away (break b13c finding 8).
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    let gone = false;
    res.once('close', () => (gone = true));
    try {
      for await (const rows of services.audit.stream(tenantId, filter)) {
        if (gone) break;
        const text = rows
          .map(({ seq: _seq, ...row }) => JSON.stringify(row))
          .join('\n')
          .concat('\n');
        if (!res.write(text)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      }
      res.end();
    } catch (error) {
      // Headers are out: the only honest signal left is a cut connection (no final newline-terminated EOF).
      logger.error({ err: error }, 'audit export failed mid-stream');
      res.destroy();
    }
  };
}
