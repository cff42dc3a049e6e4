import { describe, expect, it } from 'vitest';
import { ContentBudget, contentChars } from '../../src/services/content-budget';

describe('ContentBudget', () => {
  it('grants what fits at once and makes later reservations wait until room is given back', async () => {
    const budget = new ContentBudget(10);
    const first = (await budget.acquire(6, 1_000))!;
    const waiting = budget.acquire(6, 1_000);
    let granted = false;
    void waiting.then(() => (granted = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(granted).toBe(false);
    first.release();
    const second = await waiting;
    expect(second).toBeDefined();
    expect(budget.inUse).toBe(6);
  });

  it('shrinking a reservation to what was rendered lets the next one in', async () => {
    const budget = new ContentBudget(10);
    const first = (await budget.acquire(9, 1_000))!;
    const waiting = budget.acquire(5, 1_000);
    first.resize(3);
    expect(await waiting).toBeDefined();
    expect(budget.inUse).toBe(8);
  });

  it('serves waiters in arrival order: a large one is not starved by small ones behind it', async () => {
    const budget = new ContentBudget(10);
    const held = (await budget.acquire(5, 1_000))!;
    const order: string[] = [];
    const large = budget.acquire(8, 1_000).then((l) => (order.push('large'), l));
    const small = budget.acquire(1, 1_000).then((l) => (order.push('small'), l));
    held.release();
    (await large)!.release();
    await small;
    expect(order).toEqual(['large', 'small']);
  });

  it('gives up after the wait and lets those behind it try', async () => {
    const budget = new ContentBudget(10);
    (await budget.acquire(8, 1_000))!;
    const tooBig = budget.acquire(5, 30);
    const fits = budget.acquire(2, 1_000);
    expect(await tooBig).toBeUndefined();
    expect(await fits).toBeDefined();
  });

  it('grants a reservation larger than the whole budget only when nothing else is held', async () => {
    const budget = new ContentBudget(10);
    const alone = (await budget.acquire(50, 1_000))!;
    expect(budget.inUse).toBe(50);
    expect(await budget.acquire(1, 20)).toBeUndefined();
    alone.release();
    expect(await budget.acquire(1, 20)).toBeDefined();
  });

  it('releasing twice gives the room back once', async () => {
    const budget = new ContentBudget(10);
    const lease = (await budget.acquire(4, 1_000))!;
    lease.release();
    lease.release();
    expect(budget.inUse).toBe(0);
  });
});

describe('contentChars', () => {
  it('counts every string field, twice for strings beyond Latin-1 (two bytes per character in V8)', () => {
    expect(contentChars({ subject: 'abc', html: 'é'.repeat(4), mediaUrls: ['xy'], data: { k: '1' } })).toBe(
      10,
    );
    expect(contentChars({ body: '日本' })).toBe(4);
    expect(contentChars(null)).toBe(0);
  });
});

describe('ContentBudget precedence', () => {
  it('an urgent (CRITICAL) reservation goes ahead of bulk ones already waiting', async () => {
    const budget = new ContentBudget(10);
    const held = (await budget.acquire(10, 1_000))!;
    const order: string[] = [];
    const bulk = budget.acquire(5, 1_000).then((l) => (order.push('bulk'), l));
    const critical = budget.acquire(5, 1_000, true).then((l) => (order.push('critical'), l));
    held.release();
    await Promise.all([bulk, critical]);
    expect(order).toEqual(['critical', 'bulk']);
  });
});
