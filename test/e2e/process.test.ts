import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MessageDocument,
  NotificationTypesDocument,
  ProvidersDocument,
  SendNotificationDocument,
} from '../support/generated/graphql';
import { executeOk, waitFor } from '../support/graphql';
import { dropStack, freePort, isolatedEnv, type StackEnv } from '../support/stack';

const MAIN = resolve(__dirname, '../../dist/src/main.js');

/** Runs `node dist/src/main.js <role>` (what npm start runs after its build) and returns its exit and output. */
function run(
  role: string,
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [MAIN, role], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

describe('startup', () => {
  it('invalid configuration exits 1 listing every problem', async () => {
    const { code, output } = await run('all', {
      PORT: 'x',
      REDIS_URL: 'http://nope',
      NODE_ENV: 'production',
    });
    expect(code).toBe(1);
    expect(output).toContain('Invalid configuration');
    for (const name of ['PORT', 'REDIS_URL']) expect(output).toContain(name);
  });

  it('an unknown role exits 1', async () => {
    expect((await run('everything', {})).code).toBe(1);
  });

  it('Redis not answering: one clear line with the URL and how to start it', async () => {
    const port = await freePort();
    const { code, output } = await run('api', {
      REDIS_URL: `redis://127.0.0.1:${port}/0`,
      LOG_LEVEL: 'silent',
    });
    expect(code).toBe(1);
    expect(output).toContain(`Redis is not answering at redis://127.0.0.1:${port}/0`);
    expect(output).toContain('redis-server --daemonize yes');
    expect(output).toContain('docker compose up -d redis');
  });

  it('PostgreSQL not answering: one clear line with the URL and how to start it', async () => {
    const port = await freePort();
    const { code, output } = await run('api', {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/herald`,
      LOG_LEVEL: 'silent',
    });
    expect(code).toBe(1);
    expect(output).toContain(`PostgreSQL is not answering at postgres://postgres@127.0.0.1:${port}/herald`);
    expect(output).toContain('pg_ctlcluster --skip-systemctl-redirect 15 main start');
  });
});

describe('npm start on a fresh database: sandbox through the built-in emulator under /sandbox/', () => {
  let env: StackEnv;
  let base: string;
  let stop: () => Promise<number | null>;
  let output = '';

  beforeAll(async () => {
    const port = await freePort();
    // No endpoint overrides: the sandbox channels reach the emulator mounted on this process's own server.
    env = isolatedEnv('http://unused.invalid', {
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      LOG_LEVEL: 'warn',
      // What a newcomer gets: development mode, with the sandbox's starter types.
      NODE_ENV: 'development',
    });
    for (const key of ['TWILIO_API_URL', 'SENDGRID_API_URL', 'FCM_API_URL']) delete env.vars[key];
    base = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, [MAIN, 'all'], {
      env: { PATH: process.env.PATH ?? '', ...env.vars },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    stop = () =>
      new Promise<number | null>((done) => {
        if (child.exitCode !== null) return done(child.exitCode);
        child.once('exit', (code) => done(code));
        child.kill('SIGTERM');
      });
    await waitFor(
      async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok,
      30_000,
      `health\n${output}`,
    );
  });
  afterAll(async () => {
    await stop?.();
    if (env) await dropStack(env);
  });

  it('prints one startup screen: role, database, redis, auth off loudly, each channel sandbox', () => {
    expect(output).toContain('role all');
    expect(output).toContain(`database    ${env.databaseUrl}`);
    expect(output).toMatch(/auth\s+OFF/);
    for (const channel of ['EMAIL', 'SMS', 'WHATSAPP', 'PUSH'])
      expect(output).toMatch(new RegExp(`${channel}\\s+sandbox`));
  });

  it('serves /health, /ready and /metrics', async () => {
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${base}/ready`)).json()).toEqual({
      status: 'healthy',
      services: { postgres: 'up', redis: 'up' },
      // Every provider in a channel's order, with the circuit all processes share.
      providers: Object.fromEntries(
        ['twilio-sms', 'twilio-whatsapp', 'sendgrid', 'fcm'].map((id) => [
          id,
          { circuit: 'closed', healthy: true, errorRate: null },
        ]),
      ),
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('herald_process_cpu_seconds_total');
  });

  it('starts with the example notification types, so a newcomer can send at once', async () => {
    const { notificationTypes } = await executeOk(`${base}/graphql`, NotificationTypesDocument, {});
    expect(notificationTypes.map((t) => t.key)).toEqual([
      'consent_verification',
      'educational_content',
      'financial_alert',
      'monthly_report',
      'payment_reminder',
      'weekly_checkin',
    ]);
  });

  it('reports every provider in sandbox mode', async () => {
    const { providers } = await executeOk(`${base}/graphql`, ProvidersDocument, {});
    expect(providers.map((p) => [p.id, p.channel, p.sandbox, p.configured])).toEqual([
      ['twilio-sms', 'SMS', true, true],
      ['twilio-whatsapp', 'WHATSAPP', true, true],
      ['sendgrid', 'EMAIL', true, true],
      ['fcm', 'PUSH', true, true],
    ]);
  });

  it('a newcomer send reaches DELIVERED (SENT for push) on every channel and shows up in GET /sandbox/messages', async () => {
    const { sendNotification } = await executeOk(`${base}/graphql`, SendNotificationDocument, {
      input: {
        userId: 'newcomer',
        type: 'hello',
        channels: ['EMAIL', 'SMS', 'WHATSAPP', 'PUSH'],
        to: {
          email: 'me@example.com',
          phone: '+14155552671',
          whatsapp: '+14155552671',
          deviceTokens: ['my-phone'],
        },
        content: { subject: 'Hello', text: 'Hello from Herald', body: 'Hello from Herald', title: 'Hello' },
      },
    });
    // The built-in emulator reports delivery back through Herald's signed webhooks (FCM has no delivery reports).
    for (const { id, channel } of sendNotification.notification.messages) {
      const expected = channel === 'PUSH' ? 'SENT' : 'DELIVERED';
      await waitFor(
        async () =>
          (await executeOk(`${base}/graphql`, MessageDocument, { id })).message?.status === expected,
        15_000,
        `${channel} ${expected}`,
      );
    }
    const recorded = (await (await fetch(`${base}/sandbox/messages`)).json()) as {
      vendor: string;
      path: string;
    }[];
    expect(recorded.map((r) => r.vendor).sort()).toEqual(['fcm', 'sendgrid', 'twilio', 'twilio']);
    expect(recorded.find((r) => r.vendor === 'fcm')?.path).toBe(
      '/sandbox/fcm/v1/projects/herald-sandbox/messages:send',
    );
  });

  it('SIGTERM drains HTTP, websockets, jobs, queues and the database, then exits 0', async () => {
    expect(await stop()).toBe(0);
  });
});
