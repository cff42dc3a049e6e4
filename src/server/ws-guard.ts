import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../config/logger';
import { exceedsJsonDepth } from '../services/json-depth';
import { TokenBucket } from './token-bucket';
import { WsInflightBytes } from './ws-inflight';

/** graphql-ws's CloseCode.BadRequest: the message is not one the protocol allows. */
const BAD_REQUEST = 4400;
/** RFC 6455 §7.4.1 1013 "Try Again Later" (IANA registry): the server sheds a client that does not read. */
const TRY_AGAIN_LATER = 1013;
/**
 * A socket over its message rate. The HTTP 429 of the 4xxx range graphql-ws reserves for its own codes (it uses 4429
 * for a repeated connection_init, "Too many initialisation requests"); graphql-ws clients treat 4429 as fatal and do
 * not reconnect in a loop, which is what a flooding client should get.
 */
const TOO_MANY_MESSAGES = 4429;
/** RFC 6455 §7.4.1 1009 "Message Too Big", as ws itself closes a socket past maxPayload. */
const MESSAGE_TOO_BIG = 1009;
/**
 * A chunk this small, starting a message on a socket that held nothing, is read even when WS_INFLIGHT_BYTES is spent:
 * an ordinary subscribe, complete or ping is a few hundred bytes, and must not be refused because large frames of
 * others fill the budget. At most one such chunk per socket (WS_MAX_CONNECTIONS × 16 KiB) passes the budget.
 */
const SMALL_MESSAGE_BYTES = 16 * 1024;
/** How long a shed socket has to read its close frame before it is destroyed (and what ws buffered for it freed). */
const SHED_GRACE_MS = 1_000;

type RawMessage = Buffer | ArrayBuffer | Buffer[];

const bytesOf = (data: RawMessage): Uint8Array =>
  Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;

/**
 * Guards every socket of `wsServer` before graphql-ws sees it; call before `useServer` so this 'connection'
 * listener runs first. graphql-ws JSON.parses every message, `connection_init` included, before `onConnect`
 * authenticates, and sends every result without looking at what the socket still holds. So, per socket:
 * - more than `maxMessagesPerSecond` messages a second, beyond a burst of `messageBurst` (a token bucket), closes the
 *   socket with 4429 "Too many messages": counted first, before any other look at the frame, so a flood of
 *   subscribe/complete pairs, pings or queries costs a counter each instead of a parse, a validation, a rate-limit
 *   round trip to Redis and an execution (20 sockets of such frames used to exhaust the heap); nothing after it is
 *   emitted to graphql-ws;
 * - a binary frame (graphql-transport-ws is text only) or a message nested deeper than `maxDepth` closes the socket
 *   with 4400 and is never emitted to graphql-ws's 'message' listener (nor is anything after it);
 * - a send while more than `maxBufferedBytes` wait unsent (`bufferedAmount`: a client that stopped reading) closes
 *   the socket with 1013 and drops that result: memory per socket stays under the cap plus one result
 *   (GRAPHQL_MAX_RESPONSE_BYTES), until ws's close timeout destroys it.
 * Memory of frames being received, counted from the network's chunks before ws reads them (ws buffers a whole frame,
 * up to WS_MAX_PAYLOAD_BYTES, before anyone sees it; graphql-ws keeps connection_init's payload for the socket's
 * life):
 * - more than `maxInitBytes` received before the connection is acknowledged (`acknowledge`, called by onConnect)
 *   closes the socket with 1009: connection_init carries a token, not megabytes;
 * - a chunk that takes the process past `inflightBytes` (WS_INFLIGHT_BYTES) closes its socket with 1013 "Try again
 *   later", unless it is a small message on an idle socket (SMALL_MESSAGE_BYTES);
 * - a socket beyond `maxConnections` open at once is closed with 1013 as soon as it connects.
 * A socket so shed reads nothing more and is destroyed SHED_GRACE_MS later, freeing what ws held for it.
 */
export function guardWebsockets(
  wsServer: WebSocketServer,
  limits: {
    maxDepth: number;
    maxBufferedBytes: number;
    maxMessagesPerSecond: number;
    messageBurst: number;
    maxInitBytes: number;
    inflightBytes: number;
    maxConnections: number;
  },
  logger: Logger,
): { acknowledge(socket: WebSocket): void; inflight: WsInflightBytes } {
  const tooMany = `Too many messages: over ${limits.maxMessagesPerSecond} a second (WS_MAX_MESSAGES_PER_SECOND)`;
  const inflight = new WsInflightBytes(limits.inflightBytes);
  const acknowledged = new WeakSet<WebSocket>();
  wsServer.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    const bucket = new TokenBucket(limits.maxMessagesPerSecond, limits.messageBurst);
    let refused = false;
    const refuse = (code: number, reason: string) => {
      refused = true;
      logger.info({ code, reason }, 'websocket closed by guard');
      socket.close(code, reason);
    };
    // Reads nothing more (the chunk at hand is already ws's), then cuts the socket once its close frame had time to go.
    const shed = (code: number, reason: string) => {
      refuse(code, reason);
      socket.pause();
      setTimeout(() => socket.terminate(), SHED_GRACE_MS).unref();
    };
    // Prepended: runs before ws's own 'data' listener hands the chunk to its receiver.
    request.socket.prependListener('data', (chunk: Buffer) => {
      if (refused) return;
      const fits = inflight.receive(socket, chunk.length, SMALL_MESSAGE_BYTES);
      if (!acknowledged.has(socket) && inflight.heldBy(socket) > limits.maxInitBytes) {
        shed(MESSAGE_TOO_BIG, 'Message too big: connection_init over WS_MAX_INIT_PAYLOAD_BYTES');
      } else if (!fits) {
        shed(TRY_AGAIN_LATER, 'Try again later: websocket bytes in flight (WS_INFLIGHT_BYTES)');
      }
    });
    const emit = socket.emit.bind(socket);
    socket.emit = (event: string | symbol, ...args: unknown[]): boolean => {
      if (event === 'message' || event === 'ping' || event === 'pong' || event === 'close') {
        // Delivered (and parsed by the listeners, synchronously), or gone: its bytes are no longer in flight.
        try {
          return event === 'message' ? onMessage(args) : emit(event, ...args);
        } finally {
          inflight.settle(socket);
        }
      }
      return emit(event, ...args);
    };
    const onMessage = (args: unknown[]): boolean => {
      const event = 'message';
      if (refused) return false;
      if (!bucket.take()) {
        refuse(TOO_MANY_MESSAGES, tooMany);
        return false;
      }
      const [data, isBinary] = args as [RawMessage, boolean];
      if (isBinary) {
        refuse(BAD_REQUEST, 'Bad request: binary frames are not accepted');
        return false;
      }
      if (exceedsJsonDepth(bytesOf(data), limits.maxDepth)) {
        refuse(BAD_REQUEST, `Bad request: message nests deeper than ${limits.maxDepth} levels`);
        return false;
      }
      return emit(event, ...args);
    };
    const send = socket.send.bind(socket) as (...args: unknown[]) => void;
    socket.send = ((...args: unknown[]) => {
      if (socket.bufferedAmount > limits.maxBufferedBytes) {
        if (!refused) refuse(TRY_AGAIN_LATER, 'Try again later: client too slow');
        // Dropped, not failed: graphql-ws resolves and, the socket now closing, sends nothing more.
        const callback = args.at(-1);
        if (typeof callback === 'function') (callback as () => void)();
        return;
      }
      send(...args);
    }) as WebSocket['send'];
    // Last, so the socket is already guarded while its close frame goes out.
    if (wsServer.clients.size > limits.maxConnections) {
      shed(TRY_AGAIN_LATER, 'Try again later: too many connections (WS_MAX_CONNECTIONS)');
    }
  });
  return {
    acknowledge: (socket) => {
      acknowledged.add(socket);
    },
    inflight,
  };
}
