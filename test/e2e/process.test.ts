import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MessageDocument,
  NotificationTypesDocument,
  ProvidersDocument,
  SendNotificationDocument,
} from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { dropStack, freePort, isolatedEnv, type StackEnv } from '../support/stack';
import { customerWrites } from '../support/whatsapp';

const ROOT = resolve(__dirname, '../..');
const MAIN = resolve(ROOT, 'dist/src/main.js');

/** The pids below `pid` in the process tree, read from /proc (Linux). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

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
  let npm: ChildProcess;
  let output = '';
  /** Every process npm started (the shell, if any, and node), found before the signal is sent. */
  let tree: number[] = [];

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
    // `npm start` as the README says, minus its prestart build: globalSetup built dist/ already, and rebuilding it
    // here would rewrite files other test processes are loading.
    npm = spawn('npm', ['start', '--ignore-scripts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env.vars },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    npm.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    npm.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(
      async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok,
      // npm, then node: slower than node alone on a loaded machine.
      90_000,
      `health\n${output}`,
    );
  });
  afterAll(async () => {
    // On failure, end whatever this test started and left behind, by pid.
    const started = [...tree, ...(npm?.pid ? [npm.pid, ...descendants(npm.pid)] : [])];
    for (const pid of started.filter((p) => alive(p))) process.kill(pid, 'SIGKILL');
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
    // Free-form WhatsApp needs the customer to have written within 24 hours: in sandbox, as the README shows, a
    // customer message posted to the emulator reaches Herald's inbound webhook signed as Twilio signs.
    await customerWrites(`${base}/sandbox`, '+14155552671');
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

  it("the README's quick start works as written: the mutation gives message ids, the query shows DELIVERED", async () => {
    const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
    const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('### Roles'));
    const [mutation, query] = [...quickStart.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]);
    const sent = await execute<
      { sendNotification: { notification: { messages: { id: string; channel: string; status: string }[] } } },
      never
    >(`${base}/graphql`, mutation);
    expect(sent.errors).toBeUndefined();
    const messages = sent.data!.sendNotification.notification.messages;
    expect(messages.map((m) => [m.channel, m.status]).sort()).toEqual([
      ['EMAIL', 'QUEUED'],
      ['SMS', 'QUEUED'],
    ]);
    for (const { id } of messages) {
      const shown = await waitFor(
        async () => {
          const { data } = await execute<
            { message: { status: string; events: { status: string }[] } },
            never
          >(`${base}/graphql`, query.replace('"…"', JSON.stringify(id)));
          return data?.message.status === 'DELIVERED' ? data.message : undefined;
        },
        15_000,
        `message ${id} DELIVERED`,
      );
      // Herald's own QUEUED, SENDING, SENT, then the vendor's reports (its own SENT, then DELIVERED).
      const statuses = shown.events.map((e) => e.status);
      expect(statuses.slice(0, 3)).toEqual(['QUEUED', 'SENDING', 'SENT']);
      expect(statuses.at(-1)).toBe('DELIVERED');
    }
  });

  it('SIGTERM to the npm process drains Herald and exits 0: no server is left running', async () => {
    tree = descendants(npm.pid!);
    expect(tree.length).toBeGreaterThan(0);
    const exited = new Promise<number | null>((done) => npm.once('exit', (code) => done(code)));
    npm.kill('SIGTERM');
    expect(await exited).toBe(0);
    // npm has exited; Herald (its child) must have drained and exited too, not been re-parented and kept serving.
    await waitFor(
      () => Promise.resolve(tree.every((pid) => !alive(pid))),
      20_000,
      `npm's children ${tree.join(',')} to exit`,
    );
    await expect(fetch(`${base}/health`)).rejects.toThrow();
    // After the startup screen, every line is pino JSON (Apollo logs through it), and pg never warned about
    // queries issued concurrently on one transaction's client.
    const logs = output.slice(output.indexOf('webhooks  ')).split('\n').slice(1).filter(Boolean);
    for (const line of logs) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    expect(output).not.toContain('already executing a query');
  });
});
