import type { MessageStatusPayload } from '../pubsub/pubsub';

export interface BufferStats {
  subscribers: number;
  /** Events waiting for slow subscribers right now. */
  buffered: number;
  /** Older events replaced by a newer status of the same message because a subscriber fell behind. */
  coalesced: number;
  /** Events dropped because more distinct messages changed than a buffer holds. */
  dropped: number;
}

/**
 * What one subscriber has not consumed yet, bounded. Below capacity every event is kept in order. When a slow
 * consumer lets it overflow, it keeps only the newest status per message (in the order of those newest events), so
 * the subscriber skips intermediate steps but never sees a status older than one it already has; past that, with
 * more distinct messages than capacity, the oldest messages' events are dropped.
 */
export class StatusBuffer {
  private queue: MessageStatusPayload[] = [];
  private wake?: () => void;
  private closed = false;
  coalesced = 0;
  dropped = 0;

  constructor(private readonly capacity: number) {}

  get size() {
    return this.queue.length;
  }

  push(event: MessageStatusPayload): void {
    if (this.closed) return;
    this.queue.push(event);
    if (this.queue.length > this.capacity) this.compact();
    this.wake?.();
  }

  private compact(): void {
    const newest = new Map<string, MessageStatusPayload>();
    for (const event of this.queue) {
      newest.delete(event.messageId);
      newest.set(event.messageId, event);
    }
    this.coalesced += this.queue.length - newest.size;
    let kept = [...newest.values()];
    if (kept.length > this.capacity) {
      this.dropped += kept.length - this.capacity;
      kept = kept.slice(kept.length - this.capacity);
    }
    this.queue = kept;
  }

  /** The next event, or undefined once closed. */
  async next(): Promise<MessageStatusPayload | undefined> {
    while (this.queue.length === 0) {
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    return this.queue.shift();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    this.wake?.();
  }
}

/** Every live subscriber's buffer, for /metrics and tests. */
export class StatusBufferRegistry {
  private readonly live = new Set<StatusBuffer>();
  private retiredCoalesced = 0;
  private retiredDropped = 0;

  constructor(readonly capacity: number) {}

  open(): StatusBuffer {
    const buffer = new StatusBuffer(this.capacity);
    this.live.add(buffer);
    return buffer;
  }

  retire(buffer: StatusBuffer): void {
    if (!this.live.delete(buffer)) return;
    this.retiredCoalesced += buffer.coalesced;
    this.retiredDropped += buffer.dropped;
    buffer.close();
  }

  stats(): BufferStats {
    let buffered = 0;
    let coalesced = this.retiredCoalesced;
    let dropped = this.retiredDropped;
    for (const buffer of this.live) {
      buffered += buffer.size;
      coalesced += buffer.coalesced;
      dropped += buffer.dropped;
    }
    return { subscribers: this.live.size, buffered, coalesced, dropped };
  }
}
