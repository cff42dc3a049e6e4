import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/server/token-bucket';

describe('TokenBucket (per-socket message rate)', () => {
  it('starts full: a burst of `burst` passes, the next is refused', () => {
    const bucket = new TokenBucket(100, 5, () => 0);
    expect(Array.from({ length: 6 }, () => bucket.take())).toEqual([true, true, true, true, true, false]);
  });

  it('refills at `perSecond`, never above `burst`', () => {
    let now = 0;
    const bucket = new TokenBucket(100, 5, () => now);
    for (let i = 0; i < 5; i += 1) bucket.take();
    now = 10; // 10 ms at 100 a second: one token
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    now = 60_000; // a minute idle: back to 5, not 6,000
    expect(Array.from({ length: 6 }, () => bucket.take()).filter(Boolean)).toHaveLength(5);
  });

  it('a steady rate at the limit is never refused', () => {
    let now = 0;
    const bucket = new TokenBucket(100, 1, () => now);
    for (let i = 0; i < 1_000; i += 1) {
      expect(bucket.take()).toBe(true);
      now += 10;
    }
  });
});
