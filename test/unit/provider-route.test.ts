import { describe, expect, it } from 'vitest';
import { refusalCodeOf, refusalText } from '../../src/services/account-refusal';
import { spreadWake } from '../../src/services/dispatch.service';
import { chooseProvider } from '../../src/services/provider-route';
import type { Availability, ProviderCircuits } from '../../src/services/provider-circuit';
import type { RouteEntry } from '../../src/services/tenant-routes';
import { ProviderError, type ChannelProvider } from '../../src/providers/provider.types';

/** Circuits as a table: the real breaker is exercised by the e2e tests; here only the choice over its answers. */
const circuits = (table: Record<string, Availability>) =>
  ({
    availability: (key: string) => Promise.resolve(table[key] ?? { ok: true }),
  }) as unknown as ProviderCircuits;
const entry = (key: string, refused = false): RouteEntry => ({
  key,
  provider: { id: 'twilio-sms' } as ChannelProvider,
  channelConfigId: key.startsWith('config:') ? key.slice(7) : null,
  ...(refused ? { refusedAtSend: true, refusal: 'refused at send (20003): Authenticate' } : {}),
});
const closed: Availability = { ok: true };
const open = (retryInMs: number): Availability => ({ ok: false, retryInMs });

describe('chooseProvider', () => {
  const a = entry('config:a', true);
  const b = entry('config:b');
  const shared = entry('twilio-sms');

  it('sends through the first entry whose circuit lets a request through', async () => {
    const route = await chooseProvider([a, b, shared], {}, 3, circuits({ 'config:a': open(5000) }));
    expect(route).toEqual({ kind: 'send', entry: b, failover: true });
  });

  it('waits for an outage to pass, at the soonest circuit, even beside a refused config', async () => {
    const route = await chooseProvider(
      [a, b],
      {},
      3,
      circuits({ 'config:a': open(1000), 'config:b': open(7000) }),
    );
    expect(route).toEqual({ kind: 'wait', retryInMs: 7000, keys: ['config:a', 'config:b'] });
  });

  it('does not wait when every entry left is open because its vendor refused the account (break round b13c)', async () => {
    const route = await chooseProvider([a, b], { 'config:b': 3 }, 3, circuits({ 'config:a': open(1000) }));
    expect(route).toEqual({ kind: 'refused', entries: [a] });
  });

  it('gives a refused config whose pause is over its trial send', async () => {
    const route = await chooseProvider([a], {}, 3, circuits({ 'config:a': closed }));
    expect(route).toEqual({ kind: 'send', entry: a, failover: false });
  });

  it('is exhausted when every entry used its attempts', async () => {
    expect(await chooseProvider([a, b], { 'config:a': 3, 'config:b': 3 }, 3, circuits({}))).toEqual({
      kind: 'exhausted',
    });
  });
});

describe('refusal text', () => {
  it('keeps the vendor code for the messages a refused config fails', () => {
    const text = refusalText(new ProviderError('Authenticate', '20003', false, { accountRefused: true }));
    expect(text).toBe('refused at send (20003): Authenticate');
    expect(refusalCodeOf(text)).toBe('20003');
    expect(refusalCodeOf('refused at send (UnrecognizedClientException): The security token…')).toBe(
      'UnrecognizedClientException',
    );
    expect(refusalCodeOf('sandbox check failed')).toBe('ACCOUNT_REFUSED');
    expect(refusalCodeOf(null)).toBe('ACCOUNT_REFUSED');
  });
});

describe('spreadWake', () => {
  it('waits at least the circuit’s pause and at most a fifth more, capped at 5 s more', () => {
    expect(spreadWake(10_000, () => 0)).toBe(10_000);
    expect(spreadWake(10_000, () => 1)).toBe(12_000);
    expect(spreadWake(60_000, () => 1)).toBe(65_000);
    expect(spreadWake(1_000, () => 0.5)).toBe(1_100);
  });
});
