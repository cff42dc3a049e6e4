import { AuditQueryService } from './audit-query.service';
import { BudgetService } from './budget.service';
import { ChannelConfigService } from './channel-config.service';
import { ConsentService } from './consent.service';
import { ContactService } from './contact.service';
import { DeliveryStatusService } from './delivery-status.service';
import type { ServiceDeps } from './deps';
import { DispatchService } from './dispatch.service';
import { NotificationTypeService } from './notification-type.service';
import { NotificationService } from './notification.service';
import { PolicyService } from './policy.service';
import { PreferencesService } from './preferences.service';
import { ProviderPriceService } from './provider-price.service';
import { ProviderCircuits } from '../providers/resilience/provider-circuit';
import { QueryService } from './query.service';
import { SchedulerService } from './scheduler.service';
import { StatusBufferRegistry } from './status-buffer';
import { TemplateService } from './template.service';
import { TenantSettingsService } from './tenant-settings.service';
import { TenantRoutes } from './tenant-routes';
import { WebhookIntakeService } from './webhook-intake.service';

export type { Caller, ServiceDeps } from './deps';

export interface Services {
  deps: ServiceDeps;
  notifications: NotificationService;
  dispatch: DispatchService;
  scheduler: SchedulerService;
  policy: PolicyService;
  budgets: BudgetService;
  /** Tenants' own provider accounts (issue 13). */
  channelConfigs: ChannelConfigService;
  tenantSettings: TenantSettingsService;
  audit: AuditQueryService;
  consents: ConsentService;
  preferences: PreferencesService;
  contacts: ContactService;
  types: NotificationTypeService;
  queries: QueryService;
  delivery: DeliveryStatusService;
  webhooks: WebhookIntakeService;
  /** Live subscribers' bounded buffers. */
  subscriptions: StatusBufferRegistry;
  /** Per-provider circuit breakers, shared through Redis. */
  circuits: ProviderCircuits;
  /** Each tenant's provider order and its configs' adapters (close them at shutdown). */
  routes: TenantRoutes;
}

export function createServices(deps: ServiceDeps): Services {
  const templates = new TemplateService(deps.config.templates);
  const policy = new PolicyService(deps);
  const budgets = new BudgetService(deps);
  const domain = { ...deps, policy, budgets };
  const channelConfigs = new ChannelConfigService(deps);
  // Routes before sends: a tenant's WhatsApp window is its first WhatsApp sender's (service-window.ts); before prices:
  // a message sent through a tenant's config is priced through that config's adapter.
  const routes = new TenantRoutes(deps, channelConfigs);
  const prices = new ProviderPriceService(deps, routes);
  const delivery = new DeliveryStatusService(deps, prices);
  const webhooks = new WebhookIntakeService(deps, delivery, channelConfigs);
  const notifications = new NotificationService(domain, routes);
  const circuits = new ProviderCircuits(
    deps.redis,
    deps.config.redis.keyPrefix,
    {
      ...deps.config.routing.circuit,
      trialTimeoutMs: deps.config.dispatch.providerTimeoutMs + 1_000,
    },
    deps.logger,
  );
  const tenantSettings = new TenantSettingsService(deps, budgets);
  // A change made through this process reaches its next send at once; other processes within the routes TTL.
  channelConfigs.onChange((tenantId) => routes.forget(tenantId));
  tenantSettings.onChange((tenantId) => routes.forget(tenantId));
  return {
    deps,
    notifications,
    consents: new ConsentService(deps, notifications),
    preferences: new PreferencesService(deps),
    dispatch: new DispatchService(domain, templates, circuits, routes),
    scheduler: new SchedulerService(deps, webhooks, prices, channelConfigs),
    policy,
    budgets,
    channelConfigs,
    routes,
    tenantSettings,
    audit: new AuditQueryService(deps),
    contacts: new ContactService(deps),
    types: new NotificationTypeService(deps, templates),
    queries: new QueryService(deps, circuits),
    delivery,
    webhooks,
    subscriptions: new StatusBufferRegistry(deps.config.delivery.subscriptionBufferEvents),
    circuits,
  };
}
