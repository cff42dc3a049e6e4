import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Gives the event loop a turn after every `sliceMs` of synchronous work in a long loop, so one large request (a batch
 * of 10,000 messages) never holds `/health`, other callers or websockets for longer than a slice.
 * Usage: `const pace = new EventLoopPace(); for (…) { work(); await pace.turn(); }`.
 */
export class EventLoopPace {
  private since = performance.now();

  /** @param sliceMs longest stretch of synchronous work between turns (ms); the render slicer uses the same 10 ms. */
  constructor(private readonly sliceMs = 10) {}

  /** Resolves at once while the slice lasts; after it, on the next turn of the event loop (setImmediate). */
  async turn(): Promise<void> {
    if (performance.now() - this.since < this.sliceMs) return;
    await nextTurn();
    this.since = performance.now();
  }
}
