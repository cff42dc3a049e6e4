import type { EntityManager } from '@mikro-orm/postgresql';
import { ChannelConfig, TenantSettings, type Channel } from '../entities';
import type { ChannelProvider } from '../providers/provider.types';
import { buildTenantAdapter } from '../providers/tenant-adapter';
import type { ChannelConfigService } from './channel-config.service';
import type { ServiceDeps } from './deps';

/**
 * One step of a message's provider order. `key` names it for failover counts, circuits and throttles: the provider
 * id for the service-wide accounts (as before), `config:<id>` for a tenant's own config, so a tenant's failing
 * account never opens the circuit of another tenant's or the shared one.
 */
export interface RouteEntry {
  key: string;
  provider: ChannelProvider;
  /** null = the service-wide account. */
  channelConfigId: string | null;
}

export const configRouteKey = (configId: string) => `config:${configId}`;

/** A tenant's active configs (all channels, by position) and whether it also uses the service-wide accounts. */
interface TenantOrder {
  readAt: number;
  rows: ChannelConfig[];
  useShared: boolean;
  /** Chains already built from these rows, by channel. */
  chains: Map<Channel, RouteEntry[]>;
}

/** The orders of a set of tenants, read once: `chain` answers without a query (claim and record groups use it). */
export interface RouteBook {
  chain(tenantId: string, channel: Channel): RouteEntry[];
}

/**
 * The provider order for a tenant's message: its active configs for the channel by position, then the service-wide
 * providers unless the tenant's `useSharedProviders` is false.
 *
 * Hot path: a tenant's order (every channel) is read once and kept for `ttlMs` (CHANNEL_CONFIG_ROUTES_TTL_MS,
 * default 2 s), so a worker makes at most one read per tenant per TTL however many messages it sends (a tenant with no
 * configs included), and concurrent readers of the same tenant share that read. A change made through any API process
 * therefore reaches every worker within the TTL. Adapters are built from decrypted credentials once and cached by
 * config id with the row's `version`, rebuilt when a newer version is read.
 */
export class TenantRoutes {
  private readonly adapters = new Map<
    string,
    { tenantId: string; version: number; provider: ChannelProvider }
  >();
  private readonly orders = new Map<string, TenantOrder>();
  private readonly loading = new Map<string, Promise<TenantOrder>>();
  private readonly ttlMs: number;

  constructor(
    private readonly deps: ServiceDeps,
    private readonly configs: ChannelConfigService,
    options: { ttlMs?: number } = {},
  ) {
    this.ttlMs = options.ttlMs ?? deps.config.dispatch.routesTtlMs;
  }

  async chain(tenantId: string, channel: Channel): Promise<RouteEntry[]> {
    return (await this.load([tenantId])).chain(tenantId, channel);
  }

  /** Reads the orders of the tenants not read within the TTL (two queries for all of them), then answers from memory. */
  async load(tenantIds: Iterable<string>): Promise<RouteBook> {
    const wanted = [...new Set(tenantIds)];
    const now = Date.now();
    const stale = wanted.filter((t) => {
      const order = this.orders.get(t);
      return (!order || now - order.readAt >= this.ttlMs) && !this.loading.has(t);
    });
    if (stale.length > 0) {
      const read = this.read(stale);
      for (const tenantId of stale) {
        const one = read.then((orders) => orders.get(tenantId)!);
        this.loading.set(tenantId, one);
        // Forgotten once settled; a failed read is retried by the next caller.
        void one
          .catch(() => undefined)
          .finally(() => {
            if (this.loading.get(tenantId) === one) this.loading.delete(tenantId);
          });
      }
    }
    const orders = new Map<string, TenantOrder>();
    await Promise.all(
      wanted.map(async (tenantId) => {
        const pending = this.loading.get(tenantId);
        const known = this.orders.get(tenantId);
        if (!pending) return void orders.set(tenantId, known!);
        try {
          orders.set(tenantId, await pending);
        } catch (error) {
          // A failed re-read keeps the last order known: a PostgreSQL blip should not stop sends the cache can route.
          if (!known) throw error;
          orders.set(tenantId, known);
        }
      }),
    );
    return { chain: (tenantId, channel) => this.chainOf(orders.get(tenantId), channel) };
  }

  /** Drops this process's copy of a tenant's order (after a change made here); other processes wait out the TTL. */
  forget(tenantId: string): void {
    this.orders.delete(tenantId);
  }

  private async read(tenantIds: string[]): Promise<Map<string, TenantOrder>> {
    const em = this.deps.orm.em.fork() as EntityManager;
    const readAt = Date.now();
    // Sequential: the fork's one connection; both are indexed reads by tenant.
    const rows = await em.find(
      ChannelConfig,
      { tenantId: { $in: tenantIds }, active: true },
      { orderBy: { position: 'asc', createdAt: 'asc' } },
    );
    const settings = await em.find(
      TenantSettings,
      { tenantId: { $in: tenantIds } },
      { fields: ['tenantId', 'useSharedProviders'] },
    );
    const shared = new Map(settings.map((s) => [s.tenantId, s.useSharedProviders]));
    // Adapters of configs these tenants no longer have active (deleted or deactivated) are closed and dropped.
    const active = new Set(rows.map((row) => row.id));
    const read = new Set(tenantIds);
    for (const [id, cached] of this.adapters) {
      if (read.has(cached.tenantId) && !active.has(id)) {
        this.adapters.delete(id);
        this.retire(cached.provider);
      }
    }
    const orders = new Map<string, TenantOrder>();
    for (const tenantId of tenantIds) {
      const order: TenantOrder = {
        readAt,
        rows: rows.filter((row) => row.tenantId === tenantId),
        useShared: shared.get(tenantId) ?? true,
        chains: new Map(),
      };
      orders.set(tenantId, order);
      this.orders.set(tenantId, order);
    }
    return orders;
  }

  private chainOf(order: TenantOrder | undefined, channel: Channel): RouteEntry[] {
    const shared = (): RouteEntry[] =>
      this.deps.providers
        .forChannel(channel)
        .map((provider) => ({ key: provider.id, provider, channelConfigId: null }));
    if (!order) return shared();
    let chain = order.chains.get(channel);
    if (chain) return chain;
    const own: RouteEntry[] = [];
    for (const row of order.rows) {
      if (row.channel !== channel) continue;
      const provider = this.adapter(row);
      if (provider) own.push({ key: configRouteKey(row.id), provider, channelConfigId: row.id });
    }
    chain = order.useShared ? [...own, ...shared()] : own;
    order.chains.set(channel, chain);
    return chain;
  }

  /** The cached adapter of a config at its current version; undefined (logged) when it cannot be decrypted. */
  private adapter(row: ChannelConfig): ChannelProvider | undefined {
    const cached = this.adapters.get(row.id);
    if (cached && cached.version === row.version) return cached.provider;
    if (cached) this.retire(cached.provider);
    try {
      const { config } = this.deps;
      const provider = buildTenantAdapter(this.configs.accountOf(row), {
        configId: row.id,
        publicUrl: config.server.publicUrl,
        twilioApiUrl: config.twilio.apiUrl,
        sendgridApiUrl: config.sendgrid.apiUrl,
        fcmApiUrl: config.fcm.apiUrl,
        sesApiUrl: config.aws.sesApiUrl,
        snsApiUrl: config.aws.snsApiUrl,
        timeoutMs: config.dispatch.providerTimeoutMs,
      });
      this.adapters.set(row.id, { tenantId: row.tenantId, version: row.version, provider });
      return provider;
    } catch (error) {
      this.deps.logger.error(
        { channelConfigId: row.id, tenantId: row.tenantId, reason: (error as Error).message },
        'channel config skipped: its credentials cannot be decrypted or used',
      );
      this.adapters.delete(row.id);
      return undefined;
    }
  }

  /**
   * Closes a replaced or dropped adapter once any send already handed to it is over (a send lasts at most
   * PROVIDER_TIMEOUT_MS), so a config change never cuts a request in flight.
   */
  private retire(provider: ChannelProvider): void {
    if (!provider.close) return;
    setTimeout(
      () => void provider.close!().catch(() => undefined),
      this.deps.config.dispatch.providerTimeoutMs + 1_000,
    ).unref();
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.adapters.values()].map(({ provider }) =>
        provider.close ? provider.close() : Promise.resolve(),
      ),
    );
    this.adapters.clear();
    this.orders.clear();
  }
}
