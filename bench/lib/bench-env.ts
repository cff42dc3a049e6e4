import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

export const BASE_DB_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** A database and Redis key prefix of the bench's own, on the services already running on this machine. */
export interface BenchEnv {
  databaseUrl: string;
  keyPrefix: string;
  vars: Record<string, string>;
}

export function benchEnv(name: string, emulatorUrl: string, extra: Record<string, string> = {}): BenchEnv {
  const id = `${name}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = new URL(BASE_DB_URL);
  url.pathname = `/herald_bench_${id}`;
  const keyPrefix = `herald-bench-${id}`;
  return {
    databaseUrl: url.toString(),
    keyPrefix,
    vars: {
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: url.toString(),
      REDIS_URL,
      REDIS_KEY_PREFIX: keyPrefix,
      TWILIO_API_URL: `${emulatorUrl}/twilio`,
      SENDGRID_API_URL: `${emulatorUrl}/sendgrid`,
      FCM_API_URL: `${emulatorUrl}/fcm`,
      SES_API_URL: `${emulatorUrl}/ses`,
      SNS_API_URL: `${emulatorUrl}/sns`,
      // The bench measures throughput from one tenant: requests are still counted (the limiter's cost is measured)
      // but the per-tenant budget is far above what the bench sends.
      RATE_LIMIT_SERVICE_PER_MINUTE: '100000000',
      ...extra,
    },
  };
}

export async function dropBenchEnv(env: BenchEnv): Promise<void> {
  const admin = new pg.Client({ connectionString: BASE_DB_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${new URL(env.databaseUrl).pathname.slice(1)}" WITH (FORCE)`);
  await admin.end();
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.keyPrefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

/** A pg client on the bench database (after Herald created and migrated it). */
export async function benchDb(env: BenchEnv): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: env.databaseUrl });
  await client.connect();
  return client;
}
