import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * Runs the benchmark harness (`npm run bench`'s code) at tiny sizes so it cannot rot. It checks that every figure
 * and its same-run ceiling are measured and reported — never how fast anything is.
 */
describe('bench harness smoke run', () => {
  it(
    'measures P1–P6 with their ceilings, writes the JSON and prints the table',
    { timeout: 240_000 },
    async () => {
      const out = join(mkdtempSync(join(tmpdir(), 'herald-bench-')), 'latest.json');
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [resolve(__dirname, '../../dist/bench/run.js'), '--scale', 'tiny', '--out', out],
        { timeout: 230_000, maxBuffer: 10_000_000 },
      );
      const result = JSON.parse(readFileSync(out, 'utf8')) as {
        scale: string;
        machine: Record<string, unknown>;
        figures: { id: string; value: number; ceiling: number | null; goal: string }[];
      };
      expect(result.scale).toBe('tiny');
      expect(Object.keys(result.machine)).toEqual(
        expect.arrayContaining(['cores', 'node', 'postgres', 'redis']) as unknown,
      );
      expect(result.figures.map((f) => f.id)).toEqual(['P1', 'P2', 'P3', 'P4', 'P5', 'P6']);
      for (const figure of result.figures) {
        expect(Number.isFinite(figure.value), `${figure.id} value`).toBe(true);
        expect(figure.goal).toBeTruthy();
        if (figure.id !== 'P6') expect(Number.isFinite(figure.ceiling), `${figure.id} ceiling`).toBe(true);
        expect(stdout).toContain(`| ${figure.id} |`);
      }
    },
  );
});
