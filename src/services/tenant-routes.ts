import type { EntityManager } from '@mikro-orm/postgresql';
import { ChannelConfig, TenantSettings, type Channel } from '../entities';
import type { ChannelProvider } from '../providers/provider.types';
import { buildTenantAdapter } from '../providers/tenant-adapter';
import { isRefusalText } from './account-refusal';
import type { ChannelConfigService } from './channel-config.service';
import type { ServiceDeps } from './deps';
import { OncePerVersion } from './once-per-version';

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
  /**
   * The config's validation, as last read, says its vendor refused the account at send time (account-refusal.ts):
   * a send through it that succeeds clears that.
   */
  refusedAtSend?: boolean;
  /** With `refusedAtSend`: what the vendor said then (`refused at send (<code>): <message>`), for messages it fails. */
  refusal?: string;
}

export const configRouteKey = (configId: string) => `config:${configId}`;

/** A tenant's active config left out of its order because it cannot send (its credentials cannot be opened or used). */
export interface SkippedConfig {
  channelConfigId: string;
  /** Why, for the message's history: names the config and a missing key id, never a secret. */
  reason: string;
}

/** The order of one tenant's channel and the active configs that had to be left out of it. */
export interface TenantChannelRoute {
  chain: RouteEntry[];
  skipped: SkippedConfig[];
}

/** A tenant's active configs (all channels, by position) and whether it also uses the service-wide accounts. */
interface TenantOrder {
  readAt: number;
  rows: ChannelConfig[];
  useShared: boolean;
  /** Chains already built from these rows, by channel. */
  chains: Map<Channel, TenantChannelRoute>;
}

/** The orders of a set of tenants, read once: `chain` answers without a query (claim and record groups use it). */
export interface RouteBook {
  chain(tenantId: string, channel: Channel): RouteEntry[];
  route(tenantId: string, channel: Channel): TenantChannelRoute;
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
  /**
   * Bumped by `forget`: a read that started before a change made in this process must not store the order it read
   * (it may predate the change), or the change would wait out the TTL after all.
   */
  private readonly generations = new Map<string, number>();
  /** The version of each unusable config already logged, so a skipped config logs once per version. */
  private readonly reported = new OncePerVersion();
  private readonly ttlMs: number;

  constructor(
    private readonly deps: ServiceDeps,
    private readonly configs: ChannelConfigService,
    options: { ttlMs?: number } = {},
  ) {
    this.ttlMs = options.ttlMs ?? deps.config.dispatch.routesTtlMs;
  }

  async chain(tenantId: string, channel: Channel): Promise<RouteEntry[]> {
    return (await this.route(tenantId, channel)).chain;
  }

  /** The tenant's order for the channel, with the active configs left out of it (unusable credentials). */
  async route(tenantId: string, channel: Channel): Promise<TenantChannelRoute> {
    return (await this.load([tenantId])).route(tenantId, channel);
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
    return {
      chain: (tenantId, channel) => this.routeOf(orders.get(tenantId), channel).chain,
      route: (tenantId, channel) => this.routeOf(orders.get(tenantId), channel),
    };
  }

  /**
   * Drops this process's copy of a tenant's order after a change made here (a config created, changed or deleted, or
   * its settings changed), so the next send in this process reads the new one; other processes wait out the TTL. A
   * read already in flight is not waited for: it may have read the rows before the change.
   */
  forget(tenantId: string): void {
    this.generations.set(tenantId, (this.generations.get(tenantId) ?? 0) + 1);
    this.orders.delete(tenantId);
    this.loading.delete(tenantId);
  }

  private async read(tenantIds: string[]): Promise<Map<string, TenantOrder>> {
    const em = this.deps.orm.em.fork() as EntityManager;
    const readAt = Date.now();
    const generations = new Map(tenantIds.map((t) => [t, this.generations.get(t) ?? 0]));
    // Sequential: the fork's one connection; both are indexed reads by tenant.
    const rows = await em.find(
      ChannelConfig,
      { tenantId: { $in: tenantIds }, active: true, deletedAt: null },
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
      // Kept only when no change was made here since the read began (forget); the caller still gets what it read.
      if (this.generations.get(tenantId) === generations.get(tenantId)) this.orders.set(tenantId, order);
    }
    return orders;
  }

  private routeOf(order: TenantOrder | undefined, channel: Channel): TenantChannelRoute {
    const shared = (): RouteEntry[] =>
      this.deps.providers
        .forChannel(channel)
        .map((provider) => ({ key: provider.id, provider, channelConfigId: null }));
    if (!order) return { chain: shared(), skipped: [] };
    const known = order.chains.get(channel);
    if (known) return known;
    const own: RouteEntry[] = [];
    const skipped: SkippedConfig[] = [];
    for (const row of order.rows) {
      if (row.channel !== channel) continue;
      const built = this.adapter(row);
      if ('provider' in built)
        own.push({
          key: configRouteKey(row.id),
          provider: built.provider,
          channelConfigId: row.id,
          ...(row.validationOk === false && isRefusalText(row.validationError)
            ? { refusedAtSend: true, refusal: row.validationError! }
            : {}),
        });
      else skipped.push({ channelConfigId: row.id, reason: built.reason });
    }
    const route = { chain: order.useShared ? [...own, ...shared()] : own, skipped };
    order.chains.set(channel, route);
    return route;
  }

  /**
   * A skipped config at send: why, and one error line per config version (naming the config and the missing key id,
   * never a secret).
   */
  private adapter(row: ChannelConfig): { provider: ChannelProvider } | { reason: string } {
    const built = this.adapterOf(row);
    if ('provider' in built) {
      this.reported.clear(row.id);
      return built;
    }
    const { missingKeyId, error } = built;
    const reason = missingKeyId
      ? `channel config ${row.id} skipped: its credentials are encrypted under key "${missingKeyId}", which is not in CONFIG_ENCRYPTION_KEY`
      : `channel config ${row.id} skipped: its credentials cannot be decrypted or used`;
    if (this.reported.first(row.id, row.version)) {
      this.deps.logger.error(
        {
          channelConfigId: row.id,
          tenantId: row.tenantId,
          version: row.version,
          missingKeyId,
          reason: error,
        },
        missingKeyId
          ? 'channel config skipped: its encryption key is not in CONFIG_ENCRYPTION_KEY'
          : 'channel config skipped: its credentials cannot be decrypted or used',
      );
    }
    return { reason };
  }

  /**
   * The adapter of one config at its row's version (the one its sends use: routing, and the price look-up of a
   * message sent through it), built from its decrypted credentials and cached by config id and version; or why it
   * cannot be built: its credentials are under a key id no longer in CONFIG_ENCRYPTION_KEY (`missingKeyId`; outside
   * production Herald only warns at startup), tampered with, or unusable by the vendor's SDK. `error` is the
   * builder's message (SecretBoxError's names a key id at most; an SDK's refusal is about shape): never a secret.
   * Logs nothing; the caller says what it does without the config.
   */
  adapterOf(
    row: ChannelConfig,
  ): { provider: ChannelProvider } | { missingKeyId: string | undefined; error: string } {
    const cached = this.adapters.get(row.id);
    if (cached && cached.version === row.version) return { provider: cached.provider };
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
      return { provider };
    } catch (error) {
      this.adapters.delete(row.id);
      return { missingKeyId: this.configs.missingKeyIdOf(row), error: (error as Error).message };
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
