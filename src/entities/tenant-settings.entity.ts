import { Entity, OptionalProps, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';

/** A tenant's default sending identity per channel (validated like the addresses they are): absent = the account's. */
export interface DefaultSenders {
  /** From address for email (normalizeEmail). */
  email?: string | null;
  /** E.164 number or a Twilio messaging service SID (`MG` + 32 hex) for SMS. */
  sms?: string | null;
  /** E.164 number of the WhatsApp sender (stored without the `whatsapp:` prefix). */
  whatsapp?: string | null;
}

/**
 * Per-tenant overrides of service-wide defaults: budgets, time zone, default senders, retention, and whether the
 * service-wide provider accounts may send for the tenant. A missing row or null field = the default.
 */
@Entity({ tableName: 'tenant_settings' })
@Unique({ properties: ['tenantId'] })
export class TenantSettings {
  [OptionalProps]?: 'useSharedProviders';

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

  /** IANA time zone for the tenant's days (analytics); null = UTC. */
  @Property({ type: 'text', nullable: true })
  timezone?: string | null;

  /** Default sender per channel; null = the provider account's own (EMAIL_FROM, TWILIO_FROM…). */
  @Property({ type: 'json', nullable: true })
  defaultSenders?: DefaultSenders | null;

  /** Days messages and their content are kept (a later issue purges); null = kept. Never the audit trail. */
  @Property({ type: 'integer', nullable: true })
  dataRetentionDays?: number | null;

  /** Days audit rows are kept; null (the default) = forever. */
  @Property({ type: 'integer', nullable: true })
  auditRetentionDays?: number | null;

  /** Whether the service-wide provider accounts send for this tenant after its own channel configs. */
  @Property({ type: 'boolean', default: true })
  useSharedProviders: boolean = true;

  @Property({ type: 'timestamptz' })
  updatedAt!: Date;
}
