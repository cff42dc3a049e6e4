/**
 * Cooperative time slices for synchronous CPU work (template renders) on the event loop.
 *
 * Each render is synchronous (so its time limit measures it alone), but many callers at once — a burst of
 * previewNotification calls, a dispatch group — would otherwise run back to back in one turn of the loop: twelve
 * 170 ms previews held `/health` for two seconds. Work queued here runs in order, in slices of at most `sliceMs` of
 * wall time per turn (a single job may run past it, bounded by its own limit); between slices the loop polls I/O, so a
 * waiting request waits for at most one slice plus one job. Cheap renders (microseconds) still run many per slice.
 */
export class RenderSlicer {
  private readonly queue: (() => void)[] = [];
  private scheduled = false;

  /** @param sliceMs the wall time (ms) one turn of the event loop may spend on queued jobs before yielding to I/O */
  constructor(private readonly sliceMs = 10) {}

  /** Runs `job` in a later slice; resolves with its result or rejects with what it threw. */
  run<T>(job: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push(() => {
        try {
          resolve(job());
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
      this.schedule();
    });
  }

  private schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after the poll phase: pending I/O (a /health request, webhooks) is served before each slice.
    setImmediate(() => this.drain());
  }

  private drain() {
    this.scheduled = false;
    const start = performance.now();
    while (this.queue.length > 0 && performance.now() - start < this.sliceMs) this.queue.shift()!();
    if (this.queue.length > 0) this.schedule();
  }
}
