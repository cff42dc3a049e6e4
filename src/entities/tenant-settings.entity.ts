import { Entity, PrimaryKey, Property, Unique, type Opt } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';

/** Per-tenant overrides of service-wide defaults (budgets so far). A missing row or null field = the default. */
@Entity({ tableName: 'tenant_settings' })
@Unique({ properties: ['tenantId'] })
export class TenantSettings {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  /** USD per UTC day; null = the default (BUDGET_DAILY_USD). */
  @Property({ type: 'double', nullable: true })
  dailyBudget?: number | null;

  /** USD per UTC month; null = the default (BUDGET_MONTHLY_USD). */
  @Property({ type: 'double', nullable: true })
  monthlyBudget?: number | null;

  @Property({ type: 'boolean', nullable: true })
  criticalBypassesBudget?: boolean | null;

  /**
   * false = the tenant's sends use only its own channel configs, never the service-wide provider accounts.
   * (Issue 13; the tenant-settings work owns its GraphQL field.)
   */
  @Property({ type: 'boolean', default: true })
  useSharedProviders: Opt<boolean> = true;

  @Property({ type: 'timestamptz' })
  updatedAt!: Date;
}
