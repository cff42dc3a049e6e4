/**
 * A token bucket (the classic traffic-shaping meter, e.g. RFC 2697's committed burst): holds at most `burst` tokens,
 * starts full and refills at `perSecond` tokens a second. Each `take()` spends one token; when none is left it
 * answers false and spends nothing. O(1) per call, no timers: the refill is computed from the monotonic clock.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Spends one token; false when the bucket is empty (the caller is over `perSecond` beyond its burst). */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
