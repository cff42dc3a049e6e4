import type { EntityManager } from '@mikro-orm/postgresql';
import type { FlushMode, IsolationLevel } from '@mikro-orm/core';
import type { Logger } from '../config/logger';
import type { Orm } from './database';

/**
 * Whose rows a unit of work is for: one tenant's, or several tenants' on the paths that span tenants by design
 * (dispatch claim and record groups, webhook groups, the scheduler). `crossTenant` names the path, so the list of
 * such paths is one grep away (README, "Architecture").
 */
export type UnitScope = { tenantId: string } | { crossTenant: string };

/** What a use case gets inside its transaction. */
export interface UnitOfWork {
  /** The transaction's EntityManager: every read and write of the unit goes through it. */
  readonly em: EntityManager;
  readonly scope: UnitScope;
  /**
   * Registers what to do once the transaction has committed (publish a status change, enqueue a job, drop a cache):
   * run in the order registered, never when the transaction rolls back, so no subscriber or worker ever sees a row
   * that is not there. An effect that throws is logged and the others still run: the write stands, and what the
   * effect was for is recovered elsewhere (the scheduler re-enqueues QUEUED rows; subscribers re-read statuses).
   */
  afterCommit(effect: () => unknown): void;
}

export interface UnitOptions {
  flushMode?: FlushMode;
  isolationLevel?: IsolationLevel;
}

/**
 * Runs `work` in one transaction on a fresh EntityManager, then the effects it registered. The transaction's result
 * is returned once every effect has run (or failed and been logged). Errors thrown by `work` roll back and reach the
 * caller unchanged, with no effect run.
 */
export async function runUnitOfWork<T>(
  deps: { orm: Orm; logger: Logger },
  scope: UnitScope,
  work: (unit: UnitOfWork) => Promise<T>,
  options: UnitOptions = {},
): Promise<T> {
  const effects: (() => unknown)[] = [];
  const em = deps.orm.em.fork(options.flushMode ? { flushMode: options.flushMode } : {}) as EntityManager;
  const result = await em.transactional(
    (tx) => work({ em: tx, scope, afterCommit: (effect) => effects.push(effect) }),
    options.isolationLevel ? { isolationLevel: options.isolationLevel } : {},
  );
  for (const effect of effects) {
    try {
      await effect();
    } catch (error) {
      deps.logger.error({ err: error, scope }, 'an effect after commit failed; the committed write stands');
    }
  }
  return result;
}
