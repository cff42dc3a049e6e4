import { describe, expect, it } from 'vitest';
import { RenderSlicer } from '../../src/services/render-slicer';

const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

describe('RenderSlicer: synchronous renders share the event loop with I/O', () => {
  it('runs jobs in order and hands back each result or error', async () => {
    const slicer = new RenderSlicer();
    const order: number[] = [];
    const results = await Promise.allSettled([
      slicer.run(() => (order.push(1), 'a')),
      slicer.run(() => {
        order.push(2);
        throw new Error('boom');
      }),
      slicer.run(() => (order.push(3), 'c')),
    ]);
    expect(order).toEqual([1, 2, 3]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      'a',
      'boom',
      'c',
    ]);
  });

  it('lets other callbacks run between long jobs instead of holding the loop for all of them', async () => {
    const slicer = new RenderSlicer(10);
    const marks: string[] = [];
    const jobs = [0, 1, 2, 3].map((i) =>
      slicer.run(() => {
        busy(30);
        marks.push(`job${i}`);
      }),
    );
    // Stands for a /health request arriving while the renders wait.
    const other = new Promise<void>((resolve) =>
      setTimeout(() => {
        marks.push('other');
        resolve();
      }, 0),
    );
    await Promise.all([...jobs, other]);
    expect(marks.indexOf('other')).toBeGreaterThan(-1);
    expect(marks.indexOf('other')).toBeLessThan(marks.indexOf('job3'));
  });

  it('runs many cheap jobs in one slice', async () => {
    const slicer = new RenderSlicer(50);
    let turns = 0;
    let counting = true;
    const count = () => {
      if (!counting) return;
      turns += 1;
      setImmediate(count);
    };
    setImmediate(count);
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => slicer.run(() => i * 2)));
    counting = false;
    // A thousand trivial jobs do not take a thousand turns of the loop.
    expect(turns).toBeLessThan(100);
  });
});
