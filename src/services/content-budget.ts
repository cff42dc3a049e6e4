/**
 * A worker's budget of content characters in flight: rendered (or explicit) content held between rendering and the
 * recorded outcome. Each dispatch reserves its worst case before rendering (what the template limits allow, plus the
 * send's explicit content), shrinks the reservation to what it really rendered, and gives it back once the outcome is
 * recorded. Without it, DISPATCH_CONCURRENCY sends of an allowed 2 MB email (several copies each: the rendered
 * strings, the vendor's JSON body, the recorded row) ran a 192 MB worker out of memory.
 *
 * Waiters are served in arrival order, CRITICAL messages first, so a large reservation is not starved by a stream of
 * small ones and a bulk run never holds a CRITICAL message back. A single
 * reservation larger than the whole budget is granted when nothing else holds any (it could never fit otherwise).
 */
export class ContentBudget {
  private used = 0;
  private readonly waiting: { chars: number; urgent: boolean; grant: (lease: ContentLease) => void }[] = [];

  /** @param capacity characters of content in flight per process (DISPATCH_CONTENT_BUDGET_CHARS). */
  constructor(readonly capacity: number) {}

  /** Characters reserved right now (for metrics and tests). */
  get inUse(): number {
    return this.used;
  }

  /**
   * Reserves `chars` characters, waiting up to `timeoutMs` for them; an `urgent` reservation (a CRITICAL message)
   * waits only behind other urgent ones.
   * @returns the lease, or undefined when the budget stayed full for `timeoutMs` (the caller gives the message back).
   */
  acquire(chars: number, timeoutMs: number, urgent = false): Promise<ContentLease | undefined> {
    const wanted = Math.max(0, Math.ceil(chars));
    const ahead = urgent ? this.waiting.filter((w) => w.urgent).length : this.waiting.length;
    if (ahead === 0 && this.fits(wanted)) return Promise.resolve(this.lease(wanted));
    return new Promise((resolve) => {
      const entry = {
        chars: wanted,
        urgent,
        grant: (lease: ContentLease) => {
          clearTimeout(timer);
          resolve(lease);
        },
      };
      const timer = setTimeout(() => {
        const index = this.waiting.indexOf(entry);
        if (index >= 0) this.waiting.splice(index, 1);
        resolve(undefined);
        // The head may have been the one that did not fit; those behind it may.
        this.grantWaiting();
      }, timeoutMs);
      timer.unref?.();
      // Urgent (CRITICAL) waiters go ahead of every bulk one, in their own arrival order.
      if (urgent) this.waiting.splice(ahead, 0, entry);
      else this.waiting.push(entry);
    });
  }

  private fits(chars: number): boolean {
    return this.used + chars <= this.capacity || this.used === 0;
  }

  private lease(chars: number): ContentLease {
    this.used += chars;
    let held = chars;
    let released = false;
    return {
      resize: (actual: number) => {
        if (released) return;
        const next = Math.max(0, Math.ceil(actual));
        this.used += next - held;
        held = next;
        if (next < chars) this.grantWaiting();
      },
      release: () => {
        if (released) return;
        released = true;
        this.used -= held;
        this.grantWaiting();
      },
    };
  }

  private grantWaiting() {
    while (this.waiting.length > 0 && this.fits(this.waiting[0].chars)) {
      const next = this.waiting.shift()!;
      next.grant(this.lease(next.chars));
    }
  }
}

/** A reservation of content characters; release it exactly once (later calls do nothing). */
export interface ContentLease {
  /** Sets the reservation to what the content really holds, once rendered (characters). */
  resize(chars: number): void;
  release(): void;
}

/** Beyond Latin-1, V8 stores a string with two bytes per character instead of one. */
// eslint-disable-next-line no-control-regex -- the range starts at U+0000 on purpose: all of Latin-1
const TWO_BYTE = /[^\u0000-\u00ff]/;

const weight = (value: string) => (TWO_BYTE.test(value) ? 2 : 1) * value.length;

/**
 * What a content value weighs in flight, in one-byte characters: every string field (data values included), those
 * holding any character beyond Latin-1 counted twice (V8 then stores two bytes per character).
 */
export function contentChars(content: object | null | undefined): number {
  if (!content) return 0;
  let total = 0;
  for (const value of Object.values(content)) {
    if (typeof value === 'string') total += weight(value);
    else if (Array.isArray(value))
      for (const item of value) total += typeof item === 'string' ? weight(item) : 0;
    else if (value && typeof value === 'object') total += contentChars(value as object);
  }
  return total;
}
