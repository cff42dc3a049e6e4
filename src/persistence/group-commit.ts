/** One item's outcome inside a batch: its value, or the error that is its alone. */
export type Settled<O> = { ok: true; value: O } | { ok: false; error: unknown };

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Natural batching ("group commit"): items submitted under one key while that key's batches are being written wait
 * and are written together in the next batch. An item that arrives alone goes at once (no timer, so no added latency
 * when idle); under load a batch grows with the concurrency, so N concurrent sends cost one transaction instead of N.
 * `inFlight` batches per key may run together so the CPU work of one overlaps the database wait of another.
 */
export class GroupCommit<I, O> {
  private readonly queues = new Map<string, Waiting<I, O>[]>();
  private readonly running = new Map<string, number>();

  constructor(
    private readonly write: (key: string, items: I[]) => Promise<Settled<O>[]>,
    private readonly options: { maxBatch: number; inFlight: number },
  ) {}

  submit(key: string, item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const queue = this.queues.get(key) ?? [];
      if (queue.length === 0) this.queues.set(key, queue);
      queue.push({ item, resolve, reject });
      // Deferred to the next turn of the event loop so requests parsed in the same turn join one batch.
      if ((this.running.get(key) ?? 0) < this.options.inFlight && queue.length === 1) {
        setImmediate(() => void this.drain(key));
      }
    });
  }

  private async drain(key: string): Promise<void> {
    const queue = this.queues.get(key);
    const running = this.running.get(key) ?? 0;
    if (!queue?.length || running >= this.options.inFlight) return;
    const batch = queue.splice(0, this.options.maxBatch);
    if (queue.length === 0) this.queues.delete(key);
    this.running.set(key, running + 1);
    // More than a batch waiting and a slot free: the next batch starts now rather than after this one.
    if (queue.length > 0 && running + 1 < this.options.inFlight) setImmediate(() => void this.drain(key));
    try {
      const outcomes = await this.write(
        key,
        batch.map((w) => w.item),
      );
      batch.forEach((waiting, i) => {
        const outcome = outcomes[i];
        if (!outcome) waiting.reject(new Error('group commit: the batch writer returned no outcome'));
        else if (outcome.ok) waiting.resolve(outcome.value);
        else waiting.reject(outcome.error);
      });
    } catch (error) {
      batch.forEach((waiting) => waiting.reject(error));
    } finally {
      const left = (this.running.get(key) ?? 1) - 1;
      if (left === 0) this.running.delete(key);
      else this.running.set(key, left);
      // What queued up meanwhile is the next batch.
      if (this.queues.get(key)?.length) void this.drain(key);
    }
  }
}

/** A promise's outcome as data. */
export function settle<O>(promise: Promise<O>): Promise<Settled<O>> {
  return promise.then(
    (value): Settled<O> => ({ ok: true, value }),
    (error: unknown): Settled<O> => ({ ok: false, error }),
  );
}
