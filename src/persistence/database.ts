import { MikroORM } from '@mikro-orm/core';
import type { PostgreSqlDriver } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { Logger } from '../config/logger';
import { ormOptions } from './orm.config';

export type Orm = MikroORM<PostgreSqlDriver>;

/** One hash for every Herald process, so concurrent starts apply migrations once. */
const MIGRATION_LOCK_KEY = 'herald:migrations';

export class DependencyUnavailableError extends Error {}

export function postgresHint(url: string): string {
  return `PostgreSQL is not answering at ${url}. Start it: pg_ctlcluster --skip-systemctl-redirect 15 main start (this machine) or docker compose up -d postgres (laptop).`;
}

/** Creates the database named in the URL when it does not exist (a newcomer's first `npm start`). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, '')) || 'postgres';
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new DependencyUnavailableError(`${postgresHint(url)} (${(error as Error).message})`);
  }
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      } catch (error) {
        // Another process created it between our check and our CREATE: duplicate_database, or the unique index
        // on pg_database when both CREATEs ran at the same moment.
        const code = (error as { code?: string }).code;
        if (code !== '42P04' && code !== '23505') throw error;
      }
    }
  } finally {
    await client.end();
  }
}

/**
 * Applies pending migrations while holding a PostgreSQL advisory lock on a dedicated session, so several processes
 * may start together and exactly one migrates while the others wait.
 */
export async function migrate(orm: Orm, url: string, logger: Logger): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK_KEY]);
    const applied = await orm.getMigrator().up();
    if (applied.length > 0) logger.info({ migrations: applied.map((m) => m.name) }, 'migrations applied');
  } finally {
    await client
      .query('SELECT pg_advisory_unlock(hashtext($1))', [MIGRATION_LOCK_KEY])
      .catch(() => undefined);
    await client.end();
  }
}

export async function openDatabase(url: string, logger: Logger, options: { migrate: boolean }): Promise<Orm> {
  await ensureDatabase(url);
  const orm = await MikroORM.init<PostgreSqlDriver>(ormOptions(url));
  if (options.migrate) await migrate(orm, url, logger);
  return orm;
}
