import type { ChannelProvider } from '../providers/provider.types';
import type { ProviderCircuits } from './provider-circuit';

export type Route =
  | { kind: 'send'; provider: ChannelProvider; failover: boolean }
  /** Every remaining provider's circuit is open: try again when the first one lets a request through. */
  | { kind: 'wait'; retryInMs: number; providerIds: string[] }
  /** Every provider of the channel has used its attempts on this message. */
  | { kind: 'exhausted' };

/** Providers of the chain that still have attempts left for this message, in the channel's order. */
export function remainingProviders(
  chain: ChannelProvider[],
  failures: Record<string, number>,
  attemptsPerProvider: number,
): ChannelProvider[] {
  return chain.filter((provider) => (failures[provider.id] ?? 0) < attemptsPerProvider);
}

/**
 * Picks the provider for one attempt: the first in the channel's order that has attempts left for this message and
 * whose circuit lets a request through. `failover` says it is not the primary, for the record.
 */
export async function chooseProvider(
  chain: ChannelProvider[],
  failures: Record<string, number>,
  attemptsPerProvider: number,
  circuits: ProviderCircuits,
): Promise<Route> {
  const remaining = remainingProviders(chain, failures, attemptsPerProvider);
  if (remaining.length === 0) return { kind: 'exhausted' };
  let retryInMs = Number.POSITIVE_INFINITY;
  for (const provider of remaining) {
    const availability = await circuits.availability(provider.id);
    if (availability.ok) return { kind: 'send', provider, failover: provider !== chain[0] };
    retryInMs = Math.min(retryInMs, availability.retryInMs);
  }
  return { kind: 'wait', retryInMs, providerIds: remaining.map((p) => p.id) };
}
