import type { EntityManager } from '@mikro-orm/postgresql';
import { TenantSettings } from '../entities';
import { lockTenantSpend } from '../persistence/advisory-locks';
import type { Caller, ServiceDeps } from './deps';
import { roundUsd } from './cost';
import { BudgetExceededError } from './errors';

export interface Budgets {
  daily?: number;
  monthly?: number;
  criticalBypass: boolean;
}

export interface Spend {
  today: number;
  month: number;
}

const ALERT_THRESHOLDS = [0.8, 1];

const startOfUtcDay = (now: Date) =>
  new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
const startOfUtcMonth = (now: Date) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));

/**
 * Per-tenant daily and monthly spend caps (UTC day and month). Spend is the cost of the tenant's messages created in
 * the period that were not suppressed, cancelled or failed — estimates while they wait, the recorded cost once sent.
 */
export class BudgetService {
  constructor(private readonly deps: ServiceDeps) {}

  async budgets(em: EntityManager, tenantId: string): Promise<Budgets> {
    const row = await em.findOne(TenantSettings, { tenantId });
    const defaults = this.deps.config.budgets;
    return {
      daily: row?.dailyBudget ?? defaults.daily,
      monthly: row?.monthlyBudget ?? defaults.monthly,
      criticalBypass: row?.criticalBypassesBudget ?? defaults.criticalBypass,
    };
  }

  /**
   * The tenant's spend today and this month. A send path passes the tenant's budgets: with none set there is nothing
   * to check and no sum is taken (it reads every message of the month).
   */
  async spend(em: EntityManager, tenantId: string, budgets?: Budgets): Promise<Spend> {
    if (budgets && budgets.daily === undefined && budgets.monthly === undefined)
      return { today: 0, month: 0 };
    const now = this.deps.clock.now();
    const [row] = await em.getConnection().execute<{ today: number | null; month: number | null }[]>(
      `select coalesce(sum(cost) filter (where created_at >= ?), 0)::float8 as today, coalesce(sum(cost), 0)::float8 as month
         from message where tenant_id = ? and created_at >= ? and status not in ('SUPPRESSED', 'CANCELLED', 'FAILED')`,
      [startOfUtcDay(now), tenantId, startOfUtcMonth(now)],
      'all',
      em.getTransactionContext(),
    );
    // float8 sums carry binary noise; money is kept to the micro-dollar (roundUsd).
    return { today: roundUsd(row?.today ?? 0), month: roundUsd(row?.month ?? 0) };
  }

  /**
   * Inside the transaction that stores the sends: locks the tenant's spend (advisory-locks.ts), reads it, and refuses
   * (BudgetExceededError) when the sends together would take it over a budget. The check made while planning read the
   * spend without a lock, so a concurrent accept (another group, another API process) may have used the room since;
   * this is the one that holds. Returns the spend before and after these sends (for the alerts), or undefined when the
   * tenant has no budget (no lock, no read). `cost` is each send's estimated USD.
   */
  async holdWithin(
    tx: EntityManager,
    tenantId: string,
    budgets: Budgets,
    sends: { cost: number; critical: boolean }[],
  ): Promise<{ before: Spend; after: Spend } | undefined> {
    if (budgets.daily === undefined && budgets.monthly === undefined) return undefined;
    await lockTenantSpend(tx, tenantId);
    const before = await this.spend(tx, tenantId, budgets);
    let after = before;
    for (const send of sends) {
      this.assertWithin(budgets, after, send.cost, send.critical);
      after = { today: roundUsd(after.today + send.cost), month: roundUsd(after.month + send.cost) };
    }
    return { before, after };
  }

  /** Refuses a send that would take the tenant over a budget (CRITICAL passes when the tenant allows it). */
  assertWithin(budgets: Budgets, spend: Spend, cost: number, critical: boolean): void {
    if (cost <= 0 || (critical && budgets.criticalBypass)) return;
    for (const [period, budget, spent] of [
      ['day', budgets.daily, spend.today],
      ['month', budgets.monthly, spend.month],
    ] as const) {
      if (budget !== undefined && spent + cost > budget + 1e-9) {
        throw new BudgetExceededError(
          `this send (~$${cost.toFixed(4)}) would take the ${period}'s spend to $${(spent + cost).toFixed(4)}, over the budget of $${budget.toFixed(2)}`,
          { period, budget, spent, cost },
        );
      }
    }
  }

  /** Publishes an alert when spend crossed 80% or 100% of a budget between `before` and `after`. */
  alertCrossings(tenantId: string, budgets: Budgets, before: Spend, after: Spend): void {
    for (const [period, budget, from, to] of [
      ['day', budgets.daily, before.today, after.today],
      ['month', budgets.monthly, before.month, after.month],
    ] as const) {
      if (budget === undefined) continue;
      for (const threshold of ALERT_THRESHOLDS) {
        const line = budget * threshold;
        if (from < line - 1e-9 && to >= line - 1e-9) {
          const alert = {
            tenantId,
            kind: 'budget' as const,
            period,
            threshold,
            spent: to,
            budget,
            occurredAt: this.deps.clock.now().toISOString(),
          };
          this.deps.logger.warn(alert, `tenant spend crossed ${threshold * 100}% of its ${period} budget`);
          this.deps.pubsub.publishAlert(alert);
        }
      }
    }
  }

  async view(caller: Caller) {
    const em = this.deps.orm.em.fork() as EntityManager;
    const [budgets, spend] = await Promise.all([
      this.budgets(em, caller.tenantId),
      this.spend(em, caller.tenantId),
    ]);
    return {
      dailyBudget: budgets.daily ?? null,
      monthlyBudget: budgets.monthly ?? null,
      criticalBypassesBudget: budgets.criticalBypass,
      spentToday: spend.today,
      spentThisMonth: spend.month,
    };
  }
}
