import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { expect } from 'vitest';
import { parseConfig, type Config } from '../../src/config/env';
import { SANDBOX_SENDGRID_WEBHOOK_KEYS } from '../../src/config/sandbox';
import { createLogger, type Logger } from '../../src/config/logger';
import { startEmulatorServer, type RunningEmulator } from '../../src/sandbox/emulator-server';
import { startHerald, type Herald, type Role } from '../../src/runtime/herald';
import type { Clock } from '../../src/services/clock';

const BASE_DB_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Variables for one isolated stack: its own database, Redis key prefix and emulator endpoints. */
export interface StackEnv {
  vars: Record<string, string>;
  databaseUrl: string;
  keyPrefix: string;
}

export function isolatedEnv(emulatorUrl: string, extra: Record<string, string> = {}): StackEnv {
  const id = `${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const url = new URL(BASE_DB_URL);
  url.pathname = `/herald_test_${id}`;
  const keyPrefix = `herald-test-${id}`;
  return {
    databaseUrl: url.toString(),
    keyPrefix,
    vars: {
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      DATABASE_URL: url.toString(),
      REDIS_URL,
      REDIS_KEY_PREFIX: keyPrefix,
      TWILIO_API_URL: `${emulatorUrl}/twilio`,
      SENDGRID_API_URL: `${emulatorUrl}/sendgrid`,
      FCM_API_URL: `${emulatorUrl}/fcm`,
      SES_API_URL: `${emulatorUrl}/ses`,
      SNS_API_URL: `${emulatorUrl}/sns`,
      SCHEDULER_INTERVAL_MS: '100',
      DISPATCH_BACKOFF_BASE_MS: '50',
      DISPATCH_BACKOFF_MAX_MS: '500',
      PROVIDER_TIMEOUT_MS: '2000',
      SHUTDOWN_TIMEOUT_MS: '3000',
      ...extra,
    },
  };
}

export interface TestStack {
  emulator: RunningEmulator;
  env: StackEnv;
  config: Config;
  herald: Herald;
  /** GraphQL endpoint of the in-process Herald. */
  url: string;
  /** Starts another Herald role as a separate OS process on the same database and Redis prefix. */
  spawnRole(
    role: Role,
    options?: SpawnOptions,
  ): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }>;
  close(): Promise<void>;
}

async function waitForHealth(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`child exited with ${child.exitCode}:\n${output()}`);
    try {
      const response = await fetch(`${url}/health`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`child did not become healthy:\n${output()}`);
}

export interface SpawnOptions {
  /** Node flags before the script, e.g. the production heap flags of package.json's `start`. */
  nodeArgs?: string[];
}

/** The heap flags `npm start` and the Dockerfile run Herald with. */
export const PRODUCTION_NODE_ARGS = ['--max-old-space-size=192', '--max-semi-space-size=32'];

/** Starts `node dist/src/main.js <role>` as its own OS process with this stack's variables. */
export async function spawnHerald(
  env: StackEnv,
  role: Role,
  options: SpawnOptions = {},
): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const childPort = await freePort();
  const script = resolve(__dirname, '../../dist/src/main.js');
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, role], {
    env: {
      ...process.env,
      ...env.vars,
      PORT: String(childPort),
      // A worker serves no HTTP: provider callbacks for what it sends go to the stack's API, as in production.
      PUBLIC_URL:
        role === 'worker' && env.vars.PUBLIC_URL ? env.vars.PUBLIC_URL : `http://127.0.0.1:${childPort}`,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const childUrl = `http://127.0.0.1:${childPort}`;
  if (role !== 'worker') await waitForHealth(childUrl, child, () => output);
  return {
    url: `${childUrl}/graphql`,
    child,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
}

/** Drops a test database and the Redis keys of its prefix. */
export async function dropStack(env: StackEnv): Promise<void> {
  const admin = new pg.Client({ connectionString: BASE_DB_URL });
  await admin.connect();
  const name = new URL(env.databaseUrl).pathname.slice(1);
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
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

interface StackOptions {
  role?: Role;
  extraEnv?: Record<string, string>;
  clock?: Clock;
  /** Herald's logger (default: at LOG_LEVEL, to stdout). */
  logger?: Logger;
  /** Let the emulator report delivery back to this Herald's webhooks, after this delay (ms). */
  callbacksDelayMs?: number;
}

/**
 * A whole Herald on real PostgreSQL and Redis, with its providers pointed at a standalone emulator. freePort's port
 * is free when asked, not when Herald listens: another test file running beside this one may take it in between (a
 * CI run failed with EADDRINUSE), so the stack starts again on another port, up to three times.
 */
export async function startStack(options: StackOptions = {}): Promise<TestStack> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStackOn(await freePort(), options);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'EADDRINUSE' || attempt === 3) throw error;
    }
  }
}

async function startStackOn(port: number, options: StackOptions): Promise<TestStack> {
  const emulator = await startEmulatorServer({
    callbacks:
      options.callbacksDelayMs === undefined
        ? undefined
        : {
            delayMs: options.callbacksDelayMs,
            sendgridEventsUrl: `http://127.0.0.1:${port}/webhooks/sendgrid/events`,
            sendgridPrivateKeyPem: SANDBOX_SENDGRID_WEBHOOK_KEYS.privateKeyPem,
          },
    // Customer messages (WhatsApp's 24-hour window) reach this Herald's inbound webhook, signed as Twilio signs.
    twilioInboundUrl: `http://127.0.0.1:${port}/webhooks/twilio/inbound`,
  });
  const env = isolatedEnv(emulator.url, {
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    ...options.extraEnv,
  });
  const config = parseConfig(env.vars);
  const herald = await startHerald(config, options.role ?? 'all', {
    logger: options.logger ?? createLogger(config.server.logLevel),
    clock: options.clock,
  }).catch(async (error: unknown) => {
    await emulator.close();
    throw error;
  });
  const children: ChildProcess[] = [];
  return {
    emulator,
    env,
    config,
    herald,
    url: `${herald.url ?? `http://127.0.0.1:${port}`}/graphql`,
    async spawnRole(role, spawnOptions) {
      const spawned = await spawnHerald(env, role, spawnOptions);
      children.push(spawned.child);
      return spawned;
    },
    async close() {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        ),
      );
      await herald.close();
      await emulator.close();
      await dropStack(env);
    },
  };
}

/** A spawned Herald is still running (neither exited nor killed) and answers /health with 200. */
export async function expectAlive(herald: { child: ChildProcess; url: string }): Promise<void> {
  expect(herald.child.exitCode).toBeNull();
  expect(herald.child.signalCode).toBeNull();
  expect((await fetch(herald.url.replace(/\/graphql$/, '/health'))).status).toBe(200);
}

/** Provider requests per Herald message id, from the StatusCallback each Twilio request carried (`?hm=<id>`). */
export function twilioRequestsPerMessage(emulator: RunningEmulator): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of emulator.emulator.recorded('twilio')) {
    const id = new URL((request.body as { StatusCallback: string }).StatusCallback).searchParams.get('hm')!;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}
