import { BadUserInputError } from './errors';
import { INPUT_LIMITS } from './input-limits';

/**
 * The one check every input passes before anything reads or stores it: strings PostgreSQL can store, JSON of a
 * bounded depth and size. Independent of GraphQL, so every service calls it the same way, and written without
 * recursion, so a 100,000-level document costs a loop, not the stack.
 *
 * PostgreSQL refuses NUL in `text` ("invalid byte sequence for encoding UTF8: 0x00") and in `jsonb` ("\u0000 cannot
 * be converted to text"), and refuses a lone UTF-16 surrogate in `jsonb` (a `text` column would silently store
 * U+FFFD instead: also refused, so what is stored is what was sent).
 * https://www.postgresql.org/docs/15/datatype-json.html ("\u0000 is disallowed").
 */

// In a `u` regex a proper surrogate pair is one code point, so \p{Cs} matches only lone surrogates.
const LONE_SURROGATE = /\p{Cs}/u;

/** Why PostgreSQL cannot store this string, or null when it can. */
export function unstorableReason(value: string): string | null {
  if (value.includes('\u0000')) return 'contains a NUL character (U+0000), which cannot be stored';
  if (LONE_SURROGATE.test(value)) return 'contains a lone UTF-16 surrogate, which cannot be stored';
  return null;
}

/** The string with what PostgreSQL cannot store replaced by U+FFFD (for vendor payloads that must not be lost). */
export function toStorable(value: string): string {
  return value.replaceAll('\u0000', '\ufffd').replace(/\p{Cs}/gu, '\ufffd');
}

/** Deep copy of a JSON value with every string and key made storable (iterative; depth as deep as the input). */
export function sanitizeJson<T>(value: T): T {
  const root: Record<string, unknown> = {};
  const stack: { source: unknown; target: Record<string, unknown>; key: string }[] = [
    { source: value, target: root, key: 'value' },
  ];
  while (stack.length > 0) {
    const { source, target, key } = stack.pop()!;
    if (Array.isArray(source)) {
      // Filled through its index keys, which an array takes like an object's.
      const list = new Array<unknown>(source.length) as unknown as Record<string, unknown>;
      source.forEach((item, i) => stack.push({ source: item, target: list, key: String(i) }));
      target[key] = list;
    } else if (source !== null && typeof source === 'object' && !(source instanceof Date)) {
      const object: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(source)) {
        stack.push({ source: item, target: object, key: toStorable(k) });
      }
      target[key] = object;
    } else target[key] = typeof source === 'string' ? toStorable(source) : source;
  }
  return root.value as T;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const childPath = (path: string, key: string) =>
  IDENTIFIER.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;

export interface StorableOptions {
  /** Deepest nesting of objects and arrays (the value itself is level 1); default INPUT_LIMITS.dataDepth. */
  maxDepth?: number;
  /** Longest string, in characters; default INPUT_LIMITS.anyString. */
  maxString?: number;
}

/**
 * Walks an input (strings, arrays, objects, Dates left alone) and throws BAD_USER_INPUT naming the first field
 * (`content.body`, `data.items[3].name`, `to.deviceTokens[0]`) whose string or key PostgreSQL cannot store, that is
 * longer than `maxString`, or that nests deeper than `maxDepth` (named by `path`, the root field). `path` is the
 * field the value came from ('' for a whole input whose fields are named on their own).
 */
export function assertStorable(value: unknown, path: string, options: StorableOptions = {}): void {
  const maxDepth = options.maxDepth ?? INPUT_LIMITS.dataDepth.max;
  const maxString = options.maxString ?? INPUT_LIMITS.anyString.max;
  // Paths are built only for the field an error names: a 1,000-send batch walks every field of every send, and
  // building each one's path string up front was most of this walk's cost (bench P2).
  const stack: Node[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item.value === 'string') {
      const reason = unstorableReason(item.value);
      if (reason) throw fieldError(item, path, reason);
      if (item.value.length > maxString)
        throw fieldError(item, path, `must be at most ${maxString} characters`);
      continue;
    }
    if (item.value === null || typeof item.value !== 'object' || item.value instanceof Date) continue;
    const depth = item.depth + 1;
    if (depth > maxDepth) {
      const root = path || 'input';
      throw new BadUserInputError(`${root}: nested deeper than ${maxDepth} levels`, root);
    }
    if (Array.isArray(item.value)) {
      item.value.forEach((v, i) => stack.push({ value: v, depth, parent: item, key: i }));
      continue;
    }
    for (const key in item.value) {
      if (!Object.prototype.hasOwnProperty.call(item.value, key)) continue;
      const keyReason = unstorableReason(key);
      if (keyReason) throw fieldError(item, path, `a key ${keyReason}`);
      stack.push({ value: (item.value as Record<string, unknown>)[key], depth, parent: item, key });
    }
  }
}

/** A value met by assertStorable's walk, with how it was reached (for the path of an error). */
interface Node {
  value: unknown;
  depth: number;
  parent?: Node;
  /** The key (object) or index (array) under `parent`. */
  key?: string | number;
}

/** `content.body`, `data.items[3].name`, `data["a b"]`: the path of `node` under `root`. */
function pathOf(node: Node, root: string): string {
  const keys: (string | number)[] = [];
  for (let at: Node | undefined = node; at?.parent; at = at.parent) keys.push(at.key!);
  return keys
    .reverse()
    .reduce<string>(
      (path, key) => (typeof key === 'number' ? `${path}[${key}]` : childPath(path, key)),
      root,
    );
}

function fieldError(node: Node, root: string, reason: string): BadUserInputError {
  const field = pathOf(node, root) || 'input';
  return new BadUserInputError(`${field}: ${reason}`, field);
}

/**
 * A JSON input such as `data`: storable strings and keys, at most INPUT_LIMITS.dataDepth levels and
 * INPUT_LIMITS.dataBytes bytes of UTF-8 JSON. Throws BAD_USER_INPUT naming `field` (or the offending key's path).
 */
export function assertJson(value: unknown, field: string): void {
  if (value === null || value === undefined) return;
  assertStorable(value, field, {
    maxDepth: INPUT_LIMITS.dataDepth.max,
    // Strings are bounded by the byte limit below, which names the whole field.
    maxString: Infinity,
  });
  // Safe now: the depth is bounded, so JSON.stringify cannot overflow the stack.
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > INPUT_LIMITS.dataBytes.max) {
    throw new BadUserInputError(
      `${field}: must be at most ${INPUT_LIMITS.dataBytes.max} bytes as JSON (got ${bytes})`,
      field,
    );
  }
}

/** A string field with a cap in characters (UTF-16 units, as `string.length`); null and undefined pass. */
export function assertMaxLength(
  value: string | null | undefined,
  field: string,
  max: number,
  rule?: string,
): void {
  if (typeof value === 'string' && value.length > max) {
    throw new BadUserInputError(
      `${field}: must be at most ${max} characters${rule ? ` (${rule})` : ''} (got ${value.length})`,
      field,
    );
  }
}

/** A string field with a cap in UTF-8 bytes; null and undefined pass. */
export function assertMaxBytes(
  value: string | null | undefined,
  field: string,
  max: number,
  rule?: string,
): void {
  if (typeof value !== 'string' || value.length * 3 <= max) return;
  const bytes = Buffer.byteLength(value);
  if (bytes > max) {
    throw new BadUserInputError(
      `${field}: must be at most ${max} bytes as UTF-8${rule ? ` (${rule})` : ''} (got ${bytes})`,
      field,
    );
  }
}

/**
 * A caller's value as an error message quotes it: JSON-quoted, cut to INPUT_LIMITS.quotedValue characters with "…",
 * so an error never echoes an unbounded input back (`no notification "aaaa…"`).
 */
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  const max = INPUT_LIMITS.quotedValue.max;
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

const DATE_MIN = Date.parse(INPUT_LIMITS.dateTime.min);
const DATE_MAX = Date.parse(INPUT_LIMITS.dateTime.max);

/**
 * Every DateTime argument: a valid date from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z
 * (INPUT_LIMITS.dateTime), so none reaches PostgreSQL out of its range. Null and undefined pass. Throws
 * BAD_USER_INPUT naming `field`.
 */
export function assertDateTime(value: Date | null | undefined, field: string): void {
  if (value === null || value === undefined) return;
  const time = value instanceof Date ? value.getTime() : NaN;
  if (Number.isNaN(time)) throw new BadUserInputError(`${field}: must be an ISO 8601 date-time`, field);
  if (time < DATE_MIN || time > DATE_MAX) {
    throw new BadUserInputError(
      `${field}: must be between ${INPUT_LIMITS.dateTime.min} and ${INPUT_LIMITS.dateTime.max}`,
      field,
    );
  }
}

/** The WHATWG URL Standard's special schemes a provider can fetch media from. */
const FETCHABLE = new Set(['http:', 'https:']);

/**
 * The one rule for every URL argument (media, images): an absolute http(s) URL with a host, as the WHATWG URL Standard
 * (https://url.spec.whatwg.org/, Node's URL) parses it, written with its "//" and no surrounding spaces (the Standard's
 * valid URL string: `https:example.com` or ` https://…` parse only with a validation error, and vendors parse URLs their
 * own way); at most INPUT_LIMITS.url characters, as given and as serialised. Returns the Standard's serialisation
 * (`URL.href`), which is what Herald stores and sends: the parser repairs what a vendor would read differently
 * (`https://e.x/a b` → `https://e.x/a%20b`, a tab or newline is removed, `http://e.x\@evil.com/` → `http://e.x/@evil.com/`
 * — the host the check saw is the host the vendor fetches from). Throws BAD_USER_INPUT naming `field`.
 */
export function normalizeUrl(value: string, field: string): string {
  assertMaxLength(value, field, INPUT_LIMITS.url.max);
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  // The parser strips surrounding spaces and a missing "//" with a validation error only; the vendor may not.
  const written = value === value.trim() && /^https?:\/\//i.test(value);
  if (!url || !FETCHABLE.has(url.protocol) || !url.hostname || !written) {
    throw new BadUserInputError(`${field}: must be an absolute http(s) URL (WHATWG URL Standard)`, field);
  }
  // Percent-encoding can triple a character; the stored form keeps the same cap.
  if (url.href.length > INPUT_LIMITS.url.max) {
    throw new BadUserInputError(
      `${field}: must be at most ${INPUT_LIMITS.url.max} characters once percent-encoded (WHATWG URL Standard)`,
      field,
    );
  }
  return url.href;
}

/**
 * A string that becomes part of a btree index entry (ids, keys, addresses, tokens): at most `max` UTF-8 bytes
 * (default INPUT_LIMITS.indexedKeyBytes). PostgreSQL refuses index entries above ~2,704 bytes with a 500, so the cap
 * is checked in bytes, not characters. Throws BAD_USER_INPUT naming `field`.
 */
export function assertKeyBytes(
  value: string | null | undefined,
  field: string,
  max: number = INPUT_LIMITS.indexedKeyBytes.max,
): void {
  assertMaxBytes(value, field, max, 'stored in an index');
}
