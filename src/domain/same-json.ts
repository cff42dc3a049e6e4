/**
 * Whether two JSON-like values say the same thing, as an audit snapshot or a stored jsonb column reads: key order is
 * irrelevant (PostgreSQL's jsonb reorders keys, a spread does not), a key holding null or undefined equals a missing
 * key, a Date equals its ISO string (what JSON.stringify, and so the audit row, makes of it), and array order counts
 * (a channel order or a template list is ordered). Pure; used to tell a change that changes nothing (no audit row, no
 * write) from a real one.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

/** One string per meaning: keys sorted, null/undefined members dropped, Dates as ISO strings. */
function canonical(value: unknown): string {
  return JSON.stringify(normalized(value)) ?? 'null';
}

function normalized(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(normalized);
  if (typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, member]) => member !== undefined && member !== null)
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([key, member]) => [key, normalized(member)] as const);
  return Object.fromEntries(entries);
}
