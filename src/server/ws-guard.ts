import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../config/logger';
import { exceedsJsonDepth } from '../services/json-depth';
import { TokenBucket } from './token-bucket';

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
 */
export function guardWebsockets(
  wsServer: WebSocketServer,
  limits: {
    maxDepth: number;
    maxBufferedBytes: number;
    maxMessagesPerSecond: number;
    messageBurst: number;
  },
  logger: Logger,
): void {
  const tooMany = `Too many messages: over ${limits.maxMessagesPerSecond} a second (WS_MAX_MESSAGES_PER_SECOND)`;
  wsServer.on('connection', (socket: WebSocket) => {
    const bucket = new TokenBucket(limits.maxMessagesPerSecond, limits.messageBurst);
    let refused = false;
    const refuse = (code: number, reason: string) => {
      refused = true;
      logger.info({ code, reason }, 'websocket closed by guard');
      socket.close(code, reason);
    };
    const emit = socket.emit.bind(socket);
    socket.emit = (event: string | symbol, ...args: unknown[]): boolean => {
      if (event !== 'message') return emit(event, ...args);
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
  });
}
