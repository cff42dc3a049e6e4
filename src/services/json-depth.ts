import type { IncomingMessage } from 'node:http';

const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \
const OPEN_ARRAY = 0x5b; // [
const OPEN_OBJECT = 0x7b; // {
const CLOSE_ARRAY = 0x5d; // ]
const CLOSE_OBJECT = 0x7d; // }

/** Bytes or UTF-16 text of a JSON document, as body-parser's `verify` or a ws 'message' event hands it over. */
export type JsonText = string | Uint8Array;

/**
 * Whether `text` opens more than `maxDepth` nested arrays/objects at once (`[]` and `{}` are depth 1, a scalar is 0).
 * One linear pass, no allocation: brackets inside strings do not count, and `\"` does not end a string
 * (RFC 8259 §7). JSON.parse's time and memory grow with nesting — a million `[` in 2 MB holds the event loop for
 * seconds — and a deep value later overflows the stack of every recursive walk (JSON.stringify, validators), so a
 * body is measured before anything parses it. Only the structure up to the first syntax error matters: JSON.parse
 * stops there, and until there this scan and the parser agree on what is a string. A stray closer never lowers the
 * count below zero, so it cannot buy depth for later openers. Works on UTF-8 bytes as on text: in UTF-8 the six
 * ASCII bytes looked at never occur inside a multi-byte character.
 */
export function exceedsJsonDepth(text: JsonText, maxDepth: number): boolean {
  const length = text.length;
  const at: (i: number) => number = typeof text === 'string' ? (i) => text.charCodeAt(i) : (i) => text[i];
  let depth = 0;
  let inString = false;
  for (let i = 0; i < length; i += 1) {
    const c = at(i);
    if (inString) {
      if (c === BACKSLASH) i += 1;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      depth += 1;
      if (depth > maxDepth) return true;
    } else if ((c === CLOSE_ARRAY || c === CLOSE_OBJECT) && depth > 0) {
      depth -= 1;
    }
  }
  return false;
}

/**
 * A JSON body nested deeper than the limit: HTTP 400 (body-parser keeps `status` and `type`, and
 * src/server/http-errors.ts answers it as JSON with code BAD_REQUEST).
 */
export class JsonTooDeepError extends Error {
  readonly status = 400;
  readonly type = 'entity.too.deep';
  constructor(readonly maxDepth: number) {
    super(`JSON nests deeper than ${maxDepth} levels`);
    this.name = 'JsonTooDeepError';
  }
}

/** A JSON body in a charset this scan cannot read (body-parser allows any `utf-*`): HTTP 415. */
export class JsonCharsetError extends Error {
  readonly status = 415;
  readonly type = 'charset.unsupported';
  constructor(charset: string) {
    super(`unsupported charset "${charset}"`);
    this.name = 'JsonCharsetError';
  }
}

/**
 * express.json's `verify` option: runs on the raw (decompressed) body before JSON.parse and throws
 * JsonTooDeepError past `maxDepth`. A non-UTF-8 body (body-parser accepts UTF-16) is decoded first, since its bytes
 * are not ASCII-transparent; a charset TextDecoder does not know is refused (JsonCharsetError).
 */
export function verifyJsonDepth(
  maxDepth: number,
): (req: IncomingMessage, res: unknown, buf: Buffer, encoding: string) => void {
  return (_req, _res, buf, encoding) => {
    let text: JsonText = buf;
    if (!/^utf-?8$/i.test(encoding)) {
      try {
        text = new TextDecoder(encoding).decode(buf);
      } catch {
        throw new JsonCharsetError(encoding);
      }
    }
    if (exceedsJsonDepth(text, maxDepth)) throw new JsonTooDeepError(maxDepth);
  };
}
