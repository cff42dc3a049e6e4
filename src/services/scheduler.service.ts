import type { EntityManager } from '@mikro-orm/postgresql';
import { Message, MessageStatus } from '../entities';
import type { ChannelConfigService } from './channel-config.service';
import type { ServiceDeps } from './deps';
import type { ProviderPriceService } from './provider-price.service';
import type { WebhookIntakeService } from './webhook-intake.service';
import { applyStatus, refreshNotifications, type StatusChange } from './message-status';

const BATCH = 500;

interface Row {
  id: string;
}

/**
 * Releases work that waits in PostgreSQL back into the queues: due SCHEDULED rows, SENDING rows whose lease expired,
 * and QUEUED rows whose job vanished. Every worker runs it; FOR UPDATE SKIP LOCKED lets them share the work.
 */
export class SchedulerService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly webhooks: WebhookIntakeService,
    private readonly prices: ProviderPriceService,
    private readonly channelConfigs: ChannelConfigService,
  ) {}

  private async lockIds(tx: EntityManager, where: string, params: unknown[]): Promise<string[]> {
    const rows = await tx
      .getConnection()
      .execute<Row[]>(
        `select id from message where ${where} limit ${BATCH} for update skip locked`,
        params,
        'all',
        tx.getTransactionContext(),
      );
    return rows.map((r) => r.id);
  }

  /**
   * One pass; returns how many messages it released, failed or re-enqueued. `signal` (shutdown) ends the pass early,
   * between its steps and between the provider calls of its price step, never inside a transaction.
   */
  async tick(signal?: AbortSignal): Promise<{
    released: number;
    expired: number;
    requeued: number;
    events: number;
    prices: number;
    purgedConfigs: number;
  }> {
    const counts = await this.releaseMessages();
    if (signal?.aborted) return { ...counts, events: 0, prices: 0, purgedConfigs: 0 };
    // Provider events that arrived before their message was recorded SENT, or whose processing was interrupted.
    const events = await this.webhooks.processPending(undefined, signal);
    if (signal?.aborted) return { ...counts, events, prices: 0, purgedConfigs: 0 };
    const prices = await this.prices.settleDue(signal);
    if (signal?.aborted) return { ...counts, events, prices, purgedConfigs: 0 };
    // Deleted channel configs whose webhook window is over: one indexed statement, usually removing nothing.
    const purgedConfigs = await this.channelConfigs.purgeDeleted();
    return { ...counts, events, prices, purgedConfigs };
  }

  private async releaseMessages(): Promise<{ released: number; expired: number; requeued: number }> {
    const changed = await this.releaseDueAndExpired();
    const requeued = await this.requeueStale();
    return { ...changed, requeued };
  }

  /** SCHEDULED rows whose time has come and SENDING rows whose lease expired: a status change each. */
  private async releaseDueAndExpired(): Promise<{ released: number; expired: number }> {
    const { clock, config } = this.deps;
    const now = clock.now();
    const changes: StatusChange[] = [];
    const em = this.deps.orm.em.fork() as EntityManager;
    const toEnqueue: Message[] = [];
    const counts = await em.transactional(async (tx) => {
      const dueIds = await this.lockIds(tx, `status = 'SCHEDULED' and due_at <= ?`, [now]);
      const expiredIds = await this.lockIds(tx, `status = 'SENDING' and lease_until <= ?`, [now]);
      const ids = [...dueIds, ...expiredIds];
      if (ids.length === 0) return { released: 0, expired: 0 };
      const messages = await tx.find(Message, { id: { $in: ids } });
      const expired = new Set(expiredIds);
      for (const message of messages) {
        if (expired.has(message.id) && message.attempt >= config.dispatch.maxAttempts) {
          changes.push(
            applyStatus(tx, message, MessageStatus.FAILED, now, {
              errorCode: 'MAX_ATTEMPTS',
              errorMessage: `gave up after ${message.attempt} attempts; the last one did not finish within its lease`,
            }),
          );
          continue;
        }
        message.leaseUntil = null;
        message.dueAt = null;
        changes.push(applyStatus(tx, message, MessageStatus.QUEUED, now));
        toEnqueue.push(message);
      }
      await refreshNotifications(tx, messages, now);
      return { released: dueIds.length, expired: expiredIds.length };
    });
    // After commit: a job must never find its row still uncommitted. Should Redis refuse, the rows wait QUEUED for
    // requeueStale below, and the rest of the pass (provider events, prices) still runs.
    await this.deps.queues.enqueueAfterCommit(toEnqueue, 'released messages');
    changes.forEach((change) => this.deps.pubsub.publish(change));
    return counts;
  }

  /**
   * QUEUED rows enqueued longer ago than REQUEUE_AFTER_MS: their job may be gone (Redis restarted or was flushed, or
   * the enqueue after commit failed). One short statement marks them and they are enqueued again under the same job
   * id, which bee-queue ignores when the job still exists: never a duplicate, and no long-held row locks that would
   * stall the workers claiming those rows.
   */
  private async requeueStale(): Promise<number> {
    const { clock, config } = this.deps;
    const now = clock.now();
    const rows = await this.deps.orm.em
      .fork()
      .getConnection()
      .execute<{ id: string; tenant_id: string; attempt: number; channel: string; priority: string }[]>(
        `update message set queued_at = ?
         where id in (select id from message where status = 'QUEUED' and queued_at <= ? limit ${BATCH} for update skip locked)
         returning id, tenant_id, attempt, channel, priority`,
        [now, new Date(now.getTime() - config.dispatch.requeueAfterMs)],
        'all',
      );
    // Should Redis refuse them, their queued_at was just moved: the next try comes REQUEUE_AFTER_MS later.
    await this.deps.queues.enqueueAfterCommit(
      rows.map((r) => ({
        id: r.id,
        tenantId: r.tenant_id,
        attempt: r.attempt,
        channel: r.channel,
        priority: r.priority,
      })),
      'stale QUEUED messages',
    );
    return rows.length;
  }
}
