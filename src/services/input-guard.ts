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
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path, depth: 0 }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    const field = item.path || 'input';
    if (typeof item.value === 'string') {
      const reason = unstorableReason(item.value);
      if (reason) throw new BadUserInputError(`${field}: ${reason}`, field);
      if (item.value.length > maxString) {
        throw new BadUserInputError(`${field}: must be at most ${maxString} characters`, field);
      }
      continue;
    }
    if (item.value === null || typeof item.value !== 'object' || item.value instanceof Date) continue;
    const depth = item.depth + 1;
    if (depth > maxDepth) {
      const root = path || 'input';
      throw new BadUserInputError(`${root}: nested deeper than ${maxDepth} levels`, root);
    }
    if (Array.isArray(item.value)) {
      item.value.forEach((v, i) => stack.push({ value: v, path: `${item.path}[${i}]`, depth }));
      continue;
    }
    for (const [key, v] of Object.entries(item.value)) {
      const keyReason = unstorableReason(key);
      if (keyReason) throw new BadUserInputError(`${field}: a key ${keyReason}`, field);
      stack.push({ value: v, path: childPath(item.path, key), depth });
    }
  }
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
