import type { ProviderCircuits } from '../providers/resilience/provider-circuit';
import type { RouteEntry } from './tenant-routes';

export type Route =
  | { kind: 'send'; entry: RouteEntry; failover: boolean }
  /** Every remaining entry's circuit is open: try again when the first one lets a request through. */
  | { kind: 'wait'; retryInMs: number; keys: string[] }
  /**
   * Every remaining entry is a tenant config whose circuit the vendor's refusal of the account opened: no pause brings
   * it back (the tenant must repair the account), so the message does not wait for it. `code` is the vendor's code of
   * the last one's refusal.
   */
  | { kind: 'refused'; entries: RouteEntry[]; code: string }
  /** Every entry of the message's order has used its attempts on this message. */
  | { kind: 'exhausted' };

/**
 * Entries of the order that still have attempts left for this message, in order. `failures` is the message's
 * providerFailures, keyed by route key (provider id for the service-wide accounts, `config:<id>` for a tenant's).
 */
export function remainingProviders(
  chain: RouteEntry[],
  failures: Record<string, number>,
  attemptsPerProvider: number,
): RouteEntry[] {
  return chain.filter((entry) => (failures[entry.key] ?? 0) < attemptsPerProvider);
}

/**
 * Picks the entry for one attempt: the first in the message's order (tenant-routes.ts) that has attempts left for
 * this message and whose circuit (keyed by route key) lets a request through. `failover` says it is not the first,
 * for the record. When none lets a request through, the message waits for the first circuit to let one through
 * (`wait`) — unless every one of them is a tenant config whose circuit an account refusal opened (`refused`; the
 * circuit says what opened it, so a config refused once and later down for an outage waits): an outage passes,
 * a revoked key or a suspended account stays until the tenant repairs it, so waiting would hold the messages (and
 * wake them every pause) for nothing. A refused config whose pause is over still gets its trial send (the circuit lets
 * it through), which is how a repaired account comes back.
 */
export async function chooseProvider(
  chain: RouteEntry[],
  failures: Record<string, number>,
  attemptsPerProvider: number,
  circuits: ProviderCircuits,
): Promise<Route> {
  const remaining = remainingProviders(chain, failures, attemptsPerProvider);
  if (remaining.length === 0) return { kind: 'exhausted' };
  let retryInMs = Number.POSITIVE_INFINITY;
  const refused: RouteEntry[] = [];
  let code = '';
  for (const entry of remaining) {
    const availability = await circuits.availability(entry.key);
    if (availability.ok) return { kind: 'send', entry, failover: entry !== chain[0] };
    if (entry.channelConfigId && availability.refusal) {
      refused.push(entry);
      code = availability.refusal.code;
    } else retryInMs = Math.min(retryInMs, availability.retryInMs);
  }
  if (refused.length === remaining.length) return { kind: 'refused', entries: refused, code };
  return { kind: 'wait', retryInMs, keys: remaining.map((e) => e.key) };
}
