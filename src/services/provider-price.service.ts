import type { EntityManager } from '@mikro-orm/postgresql';
import { ChannelConfig, DELIVERY_OUTCOMES, Message } from '../entities';
import { ProviderError, type ChannelProvider, type ProviderPrice } from '../providers/provider.types';
import { tenantProviderReportsPrice } from '../providers/tenant-adapter';
import type { ServiceDeps } from './deps';
import type { TenantRoutes } from './tenant-routes';

const BATCH = 50;
/** While one worker asks the provider, others leave the row alone for this long. */
const CLAIM_MS = 60_000;

interface Row {
  id: string;
  provider: string | null;
  provider_message_id: string | null;
  channel_config_id: string | null;
  price_checks: number;
}

/** Whom a message's price is asked of: an adapter, or why there is none (the estimate is kept, asked no more). */
type PriceSource = { provider: ChannelProvider | undefined } | { unavailable: string };

/**
 * Provider-reported prices replace Herald's estimates. Twilio settles a message's price only after its final status,
 * so the message is marked for a later look (priceCheckDueAt); every scheduler tick asks the provider for a few due
 * ones, retrying a bounded number of times while the provider has no price yet.
 *
 * A message sent through a tenant's own channel config (issue 13) is asked about through that config's own account
 * (its adapter as routing builds it, TenantRoutes.adapterOf): the message belongs to that account, and the
 * service-wide one would answer "not found". A config that is gone, inactive or whose credentials cannot be read
 * keeps the estimate: one line, and the message is not asked about again.
 */
export class ProviderPriceService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly routes: TenantRoutes,
  ) {}

  /** Called when a provider event moves a message to a final delivery outcome. */
  markForPriceCheck(message: Message, at: Date): void {
    const { prices } = this.deps.config;
    const reportsPrice = message.channelConfigId
      ? tenantProviderReportsPrice(message.provider)
      : typeof this.deps.providers.byId(message.provider ?? '')?.fetchPrice === 'function';
    if (!reportsPrice || !message.providerMessageId || prices.providerChecks === 0) return;
    if (message.costSource === 'provider' || !DELIVERY_OUTCOMES.has(message.status)) return;
    message.priceCheckDueAt = new Date(at.getTime() + prices.providerDelayMs);
  }

  /**
   * One pass over due price checks; returns how many prices were recorded. `signal` (shutdown) stops it between two
   * provider calls: the rows it claimed but did not ask about are given back as they were (due now, the check not
   * counted), so the next pass, of this process or another, asks at once.
   */
  async settleDue(signal?: AbortSignal): Promise<number> {
    const now = this.deps.clock.now();
    const em = this.deps.orm.em.fork() as EntityManager;
    // Claim a batch (push their due time ahead) in a short transaction, then ask the provider outside it.
    const rows = await em.transactional(async (tx) =>
      tx.getConnection().execute<Row[]>(
        `update message set price_check_due_at = ?, price_checks = price_checks + 1
           where id in (select id from message where price_check_due_at <= ? limit ${BATCH} for update skip locked)
           returning id, provider, provider_message_id, channel_config_id, price_checks`,
        [new Date(now.getTime() + CLAIM_MS), now],
        'all',
        tx.getTransactionContext(),
      ),
    );
    let settled = 0;
    for (const [index, row] of rows.entries()) {
      if (signal?.aborted) {
        await this.giveBack(
          em,
          rows.slice(index).map((r) => r.id),
          now,
        );
        break;
      }
      const source = await this.sourceOf(em, row);
      if ('unavailable' in source) {
        this.deps.logger.info(
          { messageId: row.id, provider: row.provider, channelConfigId: row.channel_config_id },
          `provider price not looked up: ${source.unavailable}; estimate kept`,
        );
        await em.nativeUpdate(Message, { id: row.id }, { priceCheckDueAt: null });
        continue;
      }
      const { provider } = source;
      let price: ProviderPrice | undefined;
      let permanent = false;
      try {
        price =
          provider?.fetchPrice && row.provider_message_id
            ? await provider.fetchPrice(row.provider_message_id)
            : undefined;
      } catch (error) {
        // A 404 (the provider, or the sandbox emulator after a restart, no longer knows the message) or another
        // non-retryable 4xx will answer the same next time: stop asking. One line each, no stack: this is routine.
        permanent = error instanceof ProviderError && !error.retryable;
        this.deps.logger.warn(
          {
            messageId: row.id,
            provider: row.provider,
            code: error instanceof ProviderError ? error.code : undefined,
            status: error instanceof ProviderError ? error.details.status : undefined,
            reason: error instanceof Error ? error.message : String(error),
          },
          permanent
            ? 'provider price lookup refused for good; estimate kept'
            : 'provider price lookup failed; will retry',
        );
      }
      const usable = price?.currency === 'USD' ? price : undefined;
      if (price && !usable) {
        this.deps.logger.warn(
          { messageId: row.id, currency: price.currency },
          'price not in USD; estimate kept',
        );
      }
      const giveUp =
        !usable &&
        (permanent || row.price_checks >= this.deps.config.prices.providerChecks || !provider?.fetchPrice);
      const retryAt = new Date(
        now.getTime() + Math.max(1_000, this.deps.config.prices.providerDelayMs) * row.price_checks,
      );
      await em.nativeUpdate(
        Message,
        { id: row.id },
        usable
          ? { cost: usable.amount, costSource: 'provider', priceCheckDueAt: null }
          : { priceCheckDueAt: giveUp ? null : retryAt },
      );
      if (usable) settled += 1;
    }
    return settled;
  }

  /**
   * The service-wide adapter by the message's provider id, or the adapter of the config it was sent through. The
   * reason names the config and at most a missing key id, never a secret.
   */
  private async sourceOf(em: EntityManager, row: Row): Promise<PriceSource> {
    if (!row.channel_config_id)
      return { provider: row.provider ? this.deps.providers.byId(row.provider) : undefined };
    const config = await em.findOne(ChannelConfig, { id: row.channel_config_id });
    if (!config || config.deletedAt)
      return { unavailable: `channel config ${row.channel_config_id} is deleted` };
    if (!config.active) return { unavailable: `channel config ${config.id} is inactive` };
    const built = this.routes.adapterOf(config);
    if ('provider' in built) return { provider: built.provider };
    return {
      unavailable: built.missingKeyId
        ? `channel config ${config.id}'s credentials are encrypted under key "${built.missingKeyId}", which is not in CONFIG_ENCRYPTION_KEY`
        : `channel config ${config.id}'s credentials cannot be decrypted or used`,
    };
  }

  /** Undoes the claim of rows not asked about: due at `dueAt` again, their check not counted. */
  private async giveBack(em: EntityManager, ids: string[], dueAt: Date): Promise<void> {
    await em
      .getConnection()
      .execute(
        `update message set price_check_due_at = ?, price_checks = price_checks - 1 where id in (${ids.map(() => '?').join(', ')})`,
        [dueAt, ...ids],
        'run',
      );
  }
}
