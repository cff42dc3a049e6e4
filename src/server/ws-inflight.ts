/**
 * The process-wide count of websocket bytes in flight (WS_INFLIGHT_BYTES): bytes a socket has received of a message
 * ws has not yet delivered, plus the message being delivered while graphql-ws parses it. ws buffers a whole frame
 * before its 'message' event (up to WS_MAX_PAYLOAD_BYTES), then copies it into one Buffer, graphql-ws turns it into a
 * string and JSON.parses it: about four copies at the peak. 120 sockets each sending one 1.9 MB connection_init, none
 * of them past the per-message limit, ran a 192 MB API out of memory in JSON.parse; this budget is what they share.
 *
 * A socket's count starts at each chunk the network delivers (before ws reads it) and returns to zero when ws emits a
 * message, ping or pong on it (after the listeners ran: the synchronous parse is counted) or when it closes. The bytes
 * of the next frame that came in the same chunk as the end of a message are not counted: at most one chunk (64 KiB)
 * per socket is missed, never a whole frame.
 */
export class WsInflightBytes {
  private used = 0;
  private readonly held = new WeakMap<object, number>();

  /** @param capacity bytes of websocket messages in flight per process (WS_INFLIGHT_BYTES). */
  constructor(readonly capacity: number) {}

  /** Bytes counted right now, all sockets together (for metrics and tests). */
  get inUse(): number {
    return this.used;
  }

  /** Bytes `socket` has received of a message not yet delivered. */
  heldBy(socket: object): number {
    return this.held.get(socket) ?? 0;
  }

  /**
   * Counts a chunk `socket` received.
   * @returns false when the budget is now exceeded and the chunk is not the start of a small message (`smallBytes`
   *   or fewer, on a socket that held nothing): the caller closes that socket. A small message on an idle socket is
   *   always let through, so subscriptions and queries of ordinary clients go on while large frames are refused.
   */
  receive(socket: object, bytes: number, smallBytes: number): boolean {
    const before = this.heldBy(socket);
    this.held.set(socket, before + bytes);
    this.used += bytes;
    if (this.used <= this.capacity) return true;
    return before === 0 && bytes <= smallBytes;
  }

  /** A message (or control frame) of `socket` was delivered and parsed, or the socket closed: its bytes are free. */
  settle(socket: object): void {
    this.used -= this.heldBy(socket);
    this.held.set(socket, 0);
  }
}
