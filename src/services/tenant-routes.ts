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

/**
 * The provider order for a tenant's message: its active configs for the channel by position, then the service-wide
 * providers unless the tenant's `useSharedProviders` is false. Adapters are built from decrypted credentials once and
 * cached by config id with the row's `version`: every worker process reads the versions with the order (one indexed
 * query), so an update or delete made through any API process takes effect at the next send everywhere.
 */
export class TenantRoutes {
  private readonly adapters = new Map<string, { version: number; provider: ChannelProvider }>();

  constructor(
    private readonly deps: ServiceDeps,
    private readonly configs: ChannelConfigService,
  ) {}

  async chain(tenantId: string, channel: Channel): Promise<RouteEntry[]> {
    const shared = (): RouteEntry[] =>
      this.deps.providers
        .forChannel(channel)
        .map((provider) => ({ key: provider.id, provider, channelConfigId: null }));
    const em = this.deps.orm.em.fork() as EntityManager;
    const [rows, settings] = await Promise.all([
      em.find(
        ChannelConfig,
        { tenantId, channel, active: true },
        { orderBy: { position: 'asc', createdAt: 'asc' } },
      ),
      em.findOne(TenantSettings, { tenantId }, { fields: ['useSharedProviders'] }),
    ]);
    const own: RouteEntry[] = [];
    for (const row of rows) {
      const provider = this.adapter(row);
      if (provider) own.push({ key: configRouteKey(row.id), provider, channelConfigId: row.id });
    }
    const useShared = settings?.useSharedProviders ?? true;
    return useShared ? [...own, ...shared()] : own;
  }

  /** The cached adapter of a config at its current version; undefined (logged) when it cannot be decrypted. */
  private adapter(row: ChannelConfig): ChannelProvider | undefined {
    const cached = this.adapters.get(row.id);
    if (cached && cached.version === row.version) return cached.provider;
    if (cached) void cached.provider.close?.().catch(() => undefined);
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
      this.adapters.set(row.id, { version: row.version, provider });
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

  async close(): Promise<void> {
    await Promise.all(
      [...this.adapters.values()].map(({ provider }) =>
        provider.close ? provider.close() : Promise.resolve(),
      ),
    );
    this.adapters.clear();
  }
}
