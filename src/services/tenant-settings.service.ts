import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { TenantSettings, type DefaultSenders } from '../entities';
import { runRaw } from '../persistence/raw';
import { normalizeEmail, normalizePhone, normalizeTimezone } from './address-validation';
import { sameJson } from '../domain/same-json';
import { auditSourceOf, recordAudit } from './audit.service';
import { tenantSettingsSnapshot } from './audit-snapshots';
import type { BudgetService } from './budget.service';
import type { Caller, ServiceDeps } from './deps';
import { BadUserInputError } from './errors';
import { assertStorable, quote } from './input-guard';

/** What updateTenantSettings takes: a field left out is kept; null returns it to the default. */
export interface TenantSettingsCommand {
  dailyBudget?: number | null;
  monthlyBudget?: number | null;
  criticalBypassesBudget?: boolean | null;
  timezone?: string | null;
  /** Merged per channel: a channel left out is kept, a channel set to null cleared. */
  defaultSenders?: DefaultSenders | null;
  dataRetentionDays?: number | null;
  auditRetentionDays?: number | null;
  useSharedProviders?: boolean | null;
}

/** A tenant's settings with the defaults filled in (what sends and, later, purges and routing read). */
export interface EffectiveTenantSettings {
  /** IANA name; `UTC` when unset. */
  timezone: string;
  defaultSenders: Required<DefaultSenders>;
  /** Days; null = keep. */
  dataRetentionDays: number | null;
  /** Days; null = keep forever. */
  auditRetentionDays: number | null;
  /** Whether the service-wide provider accounts send for the tenant (after its own channel configs). */
  useSharedProviders: boolean;
}

/** The longest retention Herald takes (days): about a century; beyond that, null (keep) says it better. */
const MAX_RETENTION_DAYS = 36_500;
/** A Twilio Messaging Service SID: `MG` and 32 hex digits (as TWILIO_FROM accepts). */
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;

/** The effective settings of a tenant: its row with the defaults for what it leaves unset. */
export async function readTenantSettings(
  em: EntityManager,
  tenantId: string,
): Promise<EffectiveTenantSettings> {
  const row = await em.findOne(TenantSettings, { tenantId });
  return effective(row);
}

function effective(row: TenantSettings | null): EffectiveTenantSettings {
  const senders = row?.defaultSenders ?? {};
  return {
    timezone: row?.timezone ?? 'UTC',
    defaultSenders: {
      email: senders.email ?? null,
      sms: senders.sms ?? null,
      whatsapp: senders.whatsapp ?? null,
    },
    dataRetentionDays: row?.dataRetentionDays ?? null,
    auditRetentionDays: row?.auditRetentionDays ?? null,
    useSharedProviders: row?.useSharedProviders ?? true,
  };
}

/** A positive whole number of days up to MAX_RETENTION_DAYS, or null. @throws BadUserInputError naming `field`. */
function retentionDays(value: number | null, field: string): number | null {
  if (value === null) return null;
  if (!Number.isInteger(value) || value < 1 || value > MAX_RETENTION_DAYS)
    throw new BadUserInputError(
      `${field}: must be a whole number of days from 1 to ${MAX_RETENTION_DAYS}, or null to keep`,
      field,
    );
  return value;
}

/**
 * The default senders after merging `input` into `current`, each validated as the address it is: email with
 * normalizeEmail, SMS an E.164 number (normalizePhone) or a Twilio messaging service SID, WhatsApp an E.164 number.
 * @throws BadUserInputError naming `input.defaultSenders.<channel>`.
 */
function mergeSenders(
  current: DefaultSenders | null | undefined,
  input: DefaultSenders | null,
): DefaultSenders | null {
  if (input === null) return null;
  const merged: DefaultSenders = { ...(current ?? {}) };
  const field = (channel: keyof DefaultSenders) => `input.defaultSenders.${channel}`;
  const take = (channel: keyof DefaultSenders, normalize: (value: string) => string) => {
    const value = input[channel];
    if (value === undefined) return;
    merged[channel] = value === null || value.trim() === '' ? null : normalize(value);
  };
  take('email', (v) => normalizeEmail(v, field('email')));
  take('sms', (v) => {
    if (MESSAGING_SERVICE_SID.test(v.trim())) return v.trim();
    if (/^MG/i.test(v.trim()))
      throw new BadUserInputError(
        `${field('sms')}: ${quote(v)} is not a messaging service SID (MG and 32 hex digits)`,
        field('sms'),
      );
    return normalizePhone(v, field('sms'));
  });
  take('whatsapp', (v) => normalizePhone(v, field('whatsapp')));
  const kept = Object.entries(merged).filter(([, v]) => v !== null && v !== undefined);
  return kept.length > 0 ? Object.fromEntries(kept) : null;
}

/**
 * The caller tenant's settings (tenantSettings / updateTenantSettings): budgets (with BudgetService's spend),
 * time zone, default senders, retention and shared providers. Every update writes one audit row (entity
 * `tenantSettings`, id = tenant id) in its transaction.
 */
export class TenantSettingsService {
  private readonly changeListeners: ((tenantId: string) => void)[] = [];

  constructor(
    private readonly deps: ServiceDeps,
    private readonly budgets: BudgetService,
  ) {}

  /** Called with the tenant after each committed update (routing forgets its cached order: useSharedProviders). */
  onChange(listener: (tenantId: string) => void): void {
    this.changeListeners.push(listener);
  }

  private em() {
    return this.deps.orm.em.fork() as EntityManager;
  }

  async view(caller: Caller) {
    const [budgets, settings] = await Promise.all([
      this.budgets.view(caller),
      readTenantSettings(this.em(), caller.tenantId),
    ]);
    return { ...budgets, ...settings };
  }

  /**
   * Applies what the input names (null = back to the default) and records the change. Nothing is stored when any
   * field is refused.
   * @throws BadUserInputError naming the field: `input.dailyBudget`/`input.monthlyBudget` (positive USD),
   *   `input.timezone` (IANA name), `input.defaultSenders.email|sms|whatsapp`, `input.dataRetentionDays` /
   *   `input.auditRetentionDays` (1–36,500 days).
   */
  async update(caller: Caller, input: TenantSettingsCommand) {
    assertStorable({ input }, '');
    for (const field of ['dailyBudget', 'monthlyBudget'] as const) {
      const value = input[field];
      if (value !== undefined && value !== null && !(value > 0))
        throw new BadUserInputError(`input.${field}: must be a positive amount in USD`, `input.${field}`);
    }
    const timezone =
      input.timezone === undefined || input.timezone === null
        ? input.timezone
        : normalizeTimezone(input.timezone, 'input.timezone');
    const dataRetentionDays =
      input.dataRetentionDays === undefined
        ? undefined
        : retentionDays(input.dataRetentionDays, 'input.dataRetentionDays');
    const auditRetentionDays =
      input.auditRetentionDays === undefined
        ? undefined
        : retentionDays(input.auditRetentionDays, 'input.auditRetentionDays');
    // Validated before the transaction too, so a bad sender costs no lock.
    if (input.defaultSenders !== undefined) mergeSenders({}, input.defaultSenders);

    const now = this.deps.clock.now();
    const changed = await this.em().transactional(async (tx) => {
      // The row exists from here on (concurrent first updates meet at the unique tenant id, not in an error).
      const created = await runRaw<{ id: string }>(
        tx,
        `insert into tenant_settings (id, tenant_id, updated_at, use_shared_providers) values (?, ?, ?, true)
         on conflict (tenant_id) do nothing returning id`,
        [randomUUID(), caller.tenantId, now],
      );
      const row = await tx.findOneOrFail(
        TenantSettings,
        { tenantId: caller.tenantId },
        { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true },
      );
      const before = created.length > 0 ? null : tenantSettingsSnapshot(row);
      if (input.dailyBudget !== undefined) row.dailyBudget = input.dailyBudget;
      if (input.monthlyBudget !== undefined) row.monthlyBudget = input.monthlyBudget;
      if (input.criticalBypassesBudget !== undefined)
        row.criticalBypassesBudget = input.criticalBypassesBudget;
      if (timezone !== undefined) row.timezone = timezone;
      if (input.defaultSenders !== undefined)
        row.defaultSenders = mergeSenders(row.defaultSenders, input.defaultSenders);
      if (dataRetentionDays !== undefined) row.dataRetentionDays = dataRetentionDays;
      if (auditRetentionDays !== undefined) row.auditRetentionDays = auditRetentionDays;
      if (input.useSharedProviders !== undefined) row.useSharedProviders = input.useSharedProviders ?? true;
      // The same values again change nothing: no updatedAt, no audit row, no routing cache dropped. The identity map
      // is cleared so the commit's flush writes nothing either.
      if (before && sameJson(before, tenantSettingsSnapshot(row))) {
        tx.clear();
        return false;
      }
      row.updatedAt = now;
      await tx.flush();
      await recordAudit(tx, {
        tenantId: caller.tenantId,
        ...auditSourceOf(caller),
        entity: 'tenantSettings',
        entityId: caller.tenantId,
        action: before ? 'update' : 'create',
        before,
        after: tenantSettingsSnapshot(row),
        at: now,
      });
      return true;
    });
    if (changed) for (const listener of this.changeListeners) listener(caller.tenantId);
    return this.view(caller);
  }
}
