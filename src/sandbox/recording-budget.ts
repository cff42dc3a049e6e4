/**
 * What the sandbox emulator keeps of each request it records. It is a development aid (GET /sandbox/messages, tests
 * reading `recorded()`), not an archive: a 2 MB email body kept 10,000 times would take the process down (about 100
 * of them filled the 192 MB heap of `npm start`). So each long string is cut and the recordings share a byte budget.
 */

/** Longest string kept whole in a recording (characters); longer ones keep this much plus a marker. */
export const MAX_RECORDED_STRING_CHARS = 16 * 1024;
/** Deepest nesting kept in a recording; a deeper value is replaced by a marker (the walk below is recursive). */
export const MAX_RECORDED_DEPTH = 32;
/** Estimated bytes all recordings may hold together; past it the oldest are dropped first. */
export const MAX_RECORDED_BYTES = 32 * 1024 * 1024;

/** Per value and per object entry: V8's headers and pointers, roughly. */
const VALUE_OVERHEAD_BYTES = 16;

/** The marker that replaces the rest of a cut string: says it was cut and how long the original was. */
export const truncatedMarker = (length: number) =>
  `… [truncated by the sandbox emulator: ${length} characters in all]`;

/**
 * A copy of `value` (parsed JSON or form fields) fit for keeping: every string longer than MAX_RECORDED_STRING_CHARS
 * is cut to that many characters followed by `truncatedMarker(original length)`; anything nested deeper than
 * MAX_RECORDED_DEPTH becomes the string "[truncated by the sandbox emulator: nested too deep]". `bytes` is the copy's
 * estimated size in memory (string lengths, key lengths and a fixed overhead per value), for the shared budget.
 * Other values (numbers, booleans, null, undefined) are kept as they are.
 */
export function forRecording(value: unknown, depth = 0): { value: unknown; bytes: number } {
  if (typeof value === 'string') {
    if (value.length <= MAX_RECORDED_STRING_CHARS)
      return { value, bytes: VALUE_OVERHEAD_BYTES + value.length };
    const cut = value.slice(0, MAX_RECORDED_STRING_CHARS) + truncatedMarker(value.length);
    return { value: cut, bytes: VALUE_OVERHEAD_BYTES + cut.length };
  }
  if (value === null || typeof value !== 'object') return { value, bytes: VALUE_OVERHEAD_BYTES };
  if (depth >= MAX_RECORDED_DEPTH) {
    const marker = '[truncated by the sandbox emulator: nested too deep]';
    return { value: marker, bytes: VALUE_OVERHEAD_BYTES + marker.length };
  }
  let bytes = VALUE_OVERHEAD_BYTES;
  if (Array.isArray(value)) {
    const copy = value.map((item: unknown) => {
      const kept = forRecording(item, depth + 1);
      bytes += kept.bytes;
      return kept.value;
    });
    return { value: copy, bytes };
  }
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const kept = forRecording(item, depth + 1);
    copy[key] = kept.value;
    bytes += VALUE_OVERHEAD_BYTES + key.length + kept.bytes;
  }
  return { value: copy, bytes };
}
