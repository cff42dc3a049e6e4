import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { sleep } from './stats';

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface Spawned {
  child: ChildProcess;
  url: string;
  output(): string;
  /** Resident set size now, in MB (from /proc). */
  rssMb(): number;
  stop(): Promise<void>;
}

/** Resident set size of a process in MB, read from /proc/<pid>/status. */
export function rssOf(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Starts a script as its own OS process and waits until `ready` says it is up. */
export async function spawnNode(
  script: string,
  args: string[],
  env: Record<string, string>,
  ready: (output: string, url: string) => Promise<boolean> | boolean,
  port?: number,
  nodeFlags: string[] = [],
): Promise<Spawned> {
  // BENCH_PROFILE_DIR=/tmp/prof writes a V8 CPU profile of every process under test (node --cpu-prof).
  const profile = process.env.BENCH_PROFILE_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
    : [];
  const child = spawn(process.execPath, [...nodeFlags, ...profile, script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const url = `http://127.0.0.1:${port ?? 0}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}:\n${output}`);
    if (
      await Promise.resolve()
        .then(() => ready(output, url))
        .catch(() => false)
    )
      break;
    if (Date.now() > deadline) throw new Error(`${script} did not start:\n${output}`);
    await sleep(100);
  }
  return {
    child,
    url,
    output: () => output,
    rssMb: () => rssOf(child.pid!),
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
}

const MAIN = resolve(__dirname, '../../src/main.js');

/** A Herald role (api, worker, all) as its own process, built code (dist), on the bench's database and Redis. */
/**
 * The V8 flags Herald runs with, read from `npm run start:api` in package.json, so the bench measures Herald as it is
 * started (heap budget included) rather than a copy of the command.
 */
function heraldNodeFlags(): string[] {
  const manifest = JSON.parse(readFileSync(resolve(__dirname, '../../../package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const command = manifest.scripts['start:api'] ?? '';
  return command.split(/\s+/).filter((token) => token.startsWith('--'));
}

export async function spawnHerald(
  role: 'api' | 'worker' | 'all',
  vars: Record<string, string>,
  extra: Record<string, string> = {},
): Promise<Spawned> {
  const port = await freePort();
  const env = {
    ...vars,
    PORT: String(port),
    PUBLIC_URL: vars.PUBLIC_URL ?? `http://127.0.0.1:${port}`,
    LOG_LEVEL: role === 'worker' ? 'info' : (vars.LOG_LEVEL ?? 'warn'),
    ...extra,
  };
  return spawnNode(
    MAIN,
    [role],
    env,
    async (output, url) => {
      if (role === 'worker') return output.includes('Herald worker started');
      return (await fetch(`${url}/health`)).ok;
    },
    port,
    heraldNodeFlags(),
  );
}

/** Samples a process's RSS every `everyMs` until stopped. */
export function sampleRss(pid: number, everyMs = 250) {
  const samples: number[] = [];
  const timer = setInterval(() => {
    const rss = rssOf(pid);
    if (Number.isFinite(rss)) samples.push(rss);
  }, everyMs);
  return {
    samples,
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}
