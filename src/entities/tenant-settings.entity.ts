import { Entity, PrimaryKey, Property, Unique } from '@mikro-orm/core';
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

  @Property({ type: 'timestamptz' })
  updatedAt!: Date;
}
