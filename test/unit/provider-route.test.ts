import { describe, expect, it } from 'vitest';
import { refusalText } from '../../src/services/account-refusal';
import { spreadWake } from '../../src/services/dispatch.service';
import { chooseProvider } from '../../src/services/provider-route';
import type { Availability, ProviderCircuits } from '../../src/providers/resilience/provider-circuit';
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
/** Open because the vendor refused the account (the circuit keeps the refusal's code). */
const refusedOpen = (retryInMs: number): Availability => ({
  ok: false,
  retryInMs,
  refusal: { code: '20003' },
});

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
      circuits({ 'config:a': refusedOpen(1000), 'config:b': open(7000) }),
    );
    expect(route).toEqual({ kind: 'wait', retryInMs: 7000, keys: ['config:a', 'config:b'] });
  });

  it('does not wait when every entry left is a config whose circuit an account refusal opened (break round b13c)', async () => {
    const route = await chooseProvider(
      [a, b],
      { 'config:b': 3 },
      3,
      circuits({ 'config:a': refusedOpen(1000) }),
    );
    expect(route).toEqual({ kind: 'refused', entries: [a], code: '20003' });
  });

  it('waits for an outage of a config once marked refused: what opened the circuit decides, not the mark (break round b13d)', async () => {
    const route = await chooseProvider([a], {}, 3, circuits({ 'config:a': open(4000) }));
    expect(route).toEqual({ kind: 'wait', retryInMs: 4000, keys: ['config:a'] });
  });

  it('waits for a refused shared account: the operator repairs it (no tenant config to fail on)', async () => {
    const route = await chooseProvider([shared], {}, 3, circuits({ 'twilio-sms': refusedOpen(4000) }));
    expect(route).toEqual({ kind: 'wait', retryInMs: 4000, keys: ['twilio-sms'] });
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
  it('keeps the vendor code for admins', () => {
    const text = refusalText(new ProviderError('Authenticate', '20003', false, { accountRefused: true }));
    expect(text).toBe('refused at send (20003): Authenticate');
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
