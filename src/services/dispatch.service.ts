import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/core';
import {
  Channel,
  ContactInfo,
  DeliveryEvent,
  Message,
  MessageStatus,
  Notification,
  NotificationCategory,
  NotificationStatus,
  NotificationType,
  type ContentValue,
  Priority,
  type RecipientValue,
  type RenderedContent,
} from '../entities';
import type { SendResult } from '../providers/provider.types';
import { ProviderError } from '../providers/provider.types';
import { estimateCost } from './cost';
import { payloadFor } from './provider-payload';
import { CircuitOpenError, type ProviderCircuits } from '../providers/resilience/provider-circuit';
import { applyFailureEffects } from './provider-failure-effects';
import {
  markAccountsRecovered,
  markAccountsRefused,
  type RecoveredConfig,
  type RefusedConfig,
} from './account-refusal';
import { chooseProvider, remainingProviders } from './provider-route';
import { ProviderThrottle, type SendClass } from '../providers/resilience/provider-throttle';
import { inlineAddress, storedAddress } from './contact-address';
import { createUnsubscribeToken } from './unsubscribe-token';
import type { DomainDeps } from './deps';
import { applyStatus, refreshNotifications, transition, type StatusChange } from './message-status';
import { bulkInsert } from '../persistence/bulk-insert';
import { runRaw } from '../persistence/raw';
import { GroupCommit, settle, type Settled } from '../persistence/group-commit';
import { groupBy } from './group-by';
import { PolicyFacts } from './policy-facts';
import { ContentBudget, contentChars } from './content-budget';
import {
  isWhatsappTemplateSend,
  TemplateError,
  TemplateLimitError,
  type TemplateService,
} from './template.service';
import { payloadSizeProblem, pushData, pushTargetKind } from './push-payload';
import { firstWindowSender, insideWindow, ServiceWindows } from './service-window';
import { capCounterKey, lockCapCounters, lockFallback } from '../persistence/advisory-locks';
import type { RouteBook, RouteEntry, SkippedConfig, TenantRoutes } from './tenant-routes';

export type DispatchOutcome = 'sent' | 'failed' | 'retry' | 'skipped';

/** What the claim read for the policy and rendering reuses. */
interface Known {
  type: NotificationType | null;
  contact: ContactInfo | null;
  notification?: Notification;
  /** The send's explicit content when the claim read it with its group (small contents); undefined: read at render. */
  content?: ContentValue | null;
}

/** What a group of claims reads once for all its messages. */
interface ClaimReads {
  types: Map<string, NotificationType>;
  facts: Map<string, PolicyFacts>;
  notifications: Map<string, Notification>;
  /** Explicit contents of at most INLINE_CONTENT_BYTES, by notification id, read in one query for the group. */
  contents: Map<string, ContentValue | null>;
}

/**
 * Explicit contents up to this size (bytes of their JSON text) are read with the claim, one query for the group,
 * rather than one query per message at render (the column is lazy because it may hold a whole email). A claim group
 * holds at most 200 messages, so at most ~3 MB of such content, within DISPATCH_CONTENT_BUDGET_CHARS' default; larger
 * contents are still read one by one inside the content budget.
 */
const INLINE_CONTENT_BYTES = 16_384;

/**
 * What a claim or record group leaves behind: changes to publish, fallback messages to enqueue, events to insert,
 * tenant configs whose account the vendor refused or that sent again after a refusal (their validation is written
 * after the commit).
 */
interface GroupEffects {
  changes: StatusChange[];
  fallbacks: Message[];
  events: DeliveryEvent[];
  refused: RefusedConfig[];
  recovered: RecoveredConfig[];
}

interface ClaimJob {
  messageId: string;
  tenantId: string;
}

interface RecordInput {
  claimed: Message;
  outcome: SendOutcome;
}

interface SendOutcome {
  result?: SendResult;
  /** The entry of the tenant's order the attempt went through (provider, route key, channel config). */
  route?: RouteEntry;
  content?: RenderedContent;
  error?: ProviderError | TemplateError | Error;
  /** The tenant's active configs left out of this attempt's order (unusable credentials), for the history. */
  skipped?: SkippedConfig[];
  /**
   * Configs of the order not tried because their vendor refused the account at send time and their circuit is open
   * (provider-route.ts `refused`): used up for this message like a refusal of its own.
   */
  refusedRoutes?: RouteEntry[];
}

/**
 * One history entry per config the attempt's order left out (README "Channel configs", "No key"): the message did
 * not silently go elsewhere, its history says which config could not send and why. The status is unchanged.
 */
function skippedEvents(message: Message, skipped: SkippedConfig[] | undefined, at: Date): DeliveryEvent[] {
  return (skipped ?? []).map((s) =>
    Object.assign(new DeliveryEvent(), {
      tenantId: message.tenantId,
      messageId: message.id,
      status: message.status,
      previousStatus: null,
      occurredAt: at,
      source: 'herald',
      provider: null,
      attempt: message.attempt,
      eventType: 'channel_config_skipped',
      errorCode: 'CHANNEL_CONFIG_UNUSABLE',
      errorMessage: s.reason,
    }),
  );
}

/** The recipient a message's own address stands for, so the policy's batch read looks up its block. */
function recipientOf(message: Message): RecipientValue {
  if (message.channel === Channel.EMAIL) return { email: message.to };
  if (message.channel === Channel.SMS) return { phone: message.to };
  if (message.channel === Channel.WHATSAPP) return { whatsapp: message.to };
  return {};
}

interface Claimed {
  message: Message;
  known: Known;
}

/** How soon a message whose send met an open circuit that now lets requests through looks again. */
const CIRCUIT_RECHECK_MS = 1_000;

/**
 * A wait until a circuit lets a request through, spread by up to a fifth more (at most 5 s): messages held by one
 * open circuit do not all wake at the same instant when its pause ends, so the first takes the half-open trial and
 * the rest find its verdict (closed: they go; open again: they wait for the next pause) instead of each claiming
 * and recording once more while the trial runs.
 */
export function spreadWake(retryInMs: number, random: () => number = Math.random): number {
  return Math.round(retryInMs + random() * Math.min(retryInMs / 5, 5_000));
}

/** CRITICAL messages claim, record and take provider send slots ahead of (and apart from) every other priority. */
const sendClassOf = (message: Message): SendClass =>
  message.priority === Priority.CRITICAL ? 'critical' : 'bulk';

/** Exponential backoff from the attempt number, capped; a vendor's Retry-After wins when it asks for longer. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, retryAfterMs?: number): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(exponential, retryAfterMs ?? 0);
}

/**
 * The worker's side of a message: claim the row under a lease, render, send through the channel's provider, and
 * record the outcome. The row claim (QUEUED → SENDING) is what keeps a duplicate or redelivered job from sending twice.
 */
export class DispatchService {
  private readonly throttle: ProviderThrottle;
  /** Characters of content this worker holds between rendering and the recorded outcome (content-budget.ts). */
  readonly contentBudget: ContentBudget;

  constructor(
    private readonly deps: DomainDeps,
    private readonly templates: TemplateService,
    private readonly circuits: ProviderCircuits,
    /** Each tenant's provider order (its own channel configs, then the service-wide providers). */
    private readonly routes: TenantRoutes,
  ) {
    this.throttle = new ProviderThrottle(
      deps.redis,
      deps.config.redis.keyPrefix,
      deps.config.dispatch.rateLimits,
    );
    this.contentBudget = new ContentBudget(deps.config.dispatch.contentBudgetChars);
  }

  /**
   * The most characters a message's content can hold once rendered: every template field of its channel at the
   * render memory limit (which also caps each output), plus the send's explicit content.
   */
  private worstCaseChars(message: Message, known: Known): number {
    return (
      this.templates.worstCaseChars(known.type, message.channel) + (known.notification?.contentBytes ?? 0)
    );
  }

  /**
   * No request was made (the provider's send rate is used up for longer than a job should wait, or every circuit is
   * open): back to SCHEDULED with the time it may go, and the attempt it claimed is given back.
   */
  private async recordNotSent(
    claimed: Message,
    reason: { code: string; message: string },
    retryInMs: number,
    options: { channelFallback?: boolean } = {},
  ): Promise<DispatchOutcome> {
    const changes: StatusChange[] = [];
    const fallbacks: Message[] = [];
    const em = this.deps.orm.em.fork() as EntityManager;
    const outcome = await em.transactional(async (tx): Promise<DispatchOutcome> => {
      const message = await tx.findOne(
        Message,
        { id: claimed.id, tenantId: claimed.tenantId },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      if (!message || message.status !== MessageStatus.SENDING || message.attempt !== claimed.attempt) {
        return 'skipped';
      }
      const now = this.deps.clock.now();
      // Every provider of the channel is down and the type names a fallback channel: reach the user there now
      // rather than wait for the outage to end.
      const fallback = options.channelFallback ? await this.fallback(tx, message, now) : undefined;
      if (fallback) {
        message.leaseUntil = null;
        changes.push(
          applyStatus(tx, message, MessageStatus.FAILED, now, {
            errorCode: 'PROVIDERS_UNAVAILABLE',
            errorMessage: `${reason.message}; sent on ${fallback.message.channel} instead`,
          }),
          fallback.change,
        );
        fallbacks.push(fallback.message);
        await refreshNotifications(tx, [message], now);
        return 'failed';
      }
      message.attempt -= 1;
      message.leaseUntil = null;
      message.dueAt = new Date(now.getTime() + retryInMs);
      changes.push(
        applyStatus(tx, message, MessageStatus.SCHEDULED, now, {
          errorCode: reason.code,
          errorMessage: `${reason.message}; due again in ${retryInMs} ms`,
        }),
      );
      await refreshNotifications(tx, [message], now);
      return 'retry';
    });
    await this.deps.queues.enqueueAfterCommit(fallbacks, 'fallback messages');
    this.publish(changes);
    return outcome;
  }

  /** Attempts a message may take in all: DISPATCH_MAX_ATTEMPTS on each entry of its tenant's order for the channel. */
  private attemptBound(chain: RouteEntry[]): number {
    return this.deps.config.dispatch.maxAttempts * Math.max(1, chain.length);
  }

  private publish(changes: StatusChange[]) {
    changes.forEach((change) => this.deps.pubsub.publish(change));
  }

  /**
   * Concurrent jobs claim their rows together: one transaction locks every message (in id order), reads what the
   * policy needs for all of them at once, and moves them QUEUED → SENDING. Should the group fail (a deadlock with
   * another worker, say), each job claims alone. Groups are keyed by send class: a CRITICAL claim never joins, or
   * queues behind, the bulk claim groups in flight (GroupCommit runs `inFlight` groups per key), so a bulk run of
   * DISPATCH_CONCURRENCY messages being claimed does not delay it.
   */
  private readonly claims = new GroupCommit<ClaimJob, Claimed | undefined>(
    (_key, jobs) => this.groupOrAlone('claim', jobs, (group) => this.claimMany(group)),
    { maxBatch: 200, inFlight: 2 },
  );

  /**
   * Writes a group; should it fail as a whole (a deadlock with another worker, say), logs why and writes each item
   * on its own, so one bad item or a lost race costs only itself.
   */
  private async groupOrAlone<I, O>(
    what: string,
    items: I[],
    write: (group: I[]) => Promise<O[]>,
  ): Promise<Settled<O>[]> {
    try {
      return (await write(items)).map((value) => ({ ok: true, value }));
    } catch (error) {
      if (items.length === 1) throw error;
      this.deps.logger.warn({ err: error, items: items.length }, `dispatch ${what} group failed; one by one`);
      return Promise.all(items.map((item) => settle(write([item]).then(([value]) => value))));
    }
  }

  /** QUEUED → SENDING with a new attempt number and a lease; undefined when the message is not ours to send. */
  private claim(messageId: string, tenantId: string, sendClass: SendClass): Promise<Claimed | undefined> {
    return this.claims.submit(sendClass, { messageId, tenantId });
  }

  private async claimMany(jobs: ClaimJob[]): Promise<(Claimed | undefined)[]> {
    const effects: GroupEffects = { changes: [], fallbacks: [], events: [], refused: [], recovered: [] };
    const { changes, fallbacks } = effects;
    // A group mixes tenants: each message's attempt bound is its own tenant's order. Read (usually from the cache)
    // before the transaction, so no query for it runs while the rows are locked.
    const book = await this.routes.load(jobs.map((j) => j.tenantId));
    const em = this.deps.orm.em.fork() as EntityManager;
    const claimed = await em.transactional(async (tx) => {
      const locked = await tx.find(
        Message,
        { id: { $in: [...new Set(jobs.map((j) => j.messageId))] } },
        { lockMode: LockMode.PESSIMISTIC_WRITE, orderBy: { id: 'asc' } },
      );
      const byId = new Map(locked.map((m) => [m.id, m]));
      const ours = (job: ClaimJob) => {
        const message = byId.get(job.messageId);
        return message?.tenantId === job.tenantId && message.status === MessageStatus.QUEUED
          ? message
          : undefined;
      };
      const reads = await this.claimReads(
        tx,
        jobs.map(ours).filter((m): m is Message => !!m),
      );
      const now = this.deps.clock.now();
      const results: (Claimed | undefined)[] = [];
      // In turn: a job repeated in the group finds its message already SENDING.
      for (const job of jobs) {
        const message = ours(job);
        results.push(message ? await this.claimOne(tx, message, reads, book, now, effects) : undefined);
      }
      const sending = results.filter((c): c is Claimed => !!c).map((c) => c.message);
      if (sending.length > 0) {
        // With a message SENDING, its notification's roll-up can only be PROCESSING: one conditional update for the
        // group instead of locking each notification and reading every sibling.
        await tx.nativeUpdate(
          Notification,
          {
            id: { $in: [...new Set(sending.map((m) => m.notificationId))] },
            status: { $ne: NotificationStatus.PROCESSING },
          },
          { status: NotificationStatus.PROCESSING, updatedAt: now },
        );
      }
      await bulkInsert(tx, DeliveryEvent, effects.events);
      return results;
    });
    await this.deps.queues.enqueueAfterCommit(fallbacks, 'fallback messages');
    this.publish(changes);
    return claimed;
  }

  /** Whether the policy may count this message against a frequency cap (MARKETING frequency or the type's cap). */
  private mayCountCap(message: Message, types: Map<string, NotificationType>): boolean {
    if (message.priority === Priority.CRITICAL || !message.typeKey) return false;
    const type = types.get(`${message.tenantId}|${message.typeKey}`);
    return type?.category === NotificationCategory.MARKETING || !!type?.frequencyCap;
  }

  /** Types, policy facts and notifications of the messages to claim, one query per kind and tenant; locks their cap counters. */
  private async claimReads(tx: EntityManager, messages: Message[]): Promise<ClaimReads> {
    const reads: ClaimReads = {
      types: new Map(),
      facts: new Map(),
      notifications: new Map(),
      contents: new Map(),
    };
    if (messages.length === 0) return reads;
    const typed = messages.filter((m) => m.typeKey);
    // Sequential: a transaction's one connection runs one query at a time (pg 9 refuses concurrent ones).
    const types =
      typed.length > 0
        ? await tx.find(NotificationType, {
            $or: [...groupBy(typed, (m) => m.tenantId)].map(([tenantId, ms]) => ({
              tenantId,
              key: { $in: [...new Set(ms.map((m) => m.typeKey!))] },
            })),
          })
        : [];
    const notifications = await tx.find(Notification, {
      id: { $in: [...new Set(messages.map((m) => m.notificationId))] },
    });
    types.forEach((t) => reads.types.set(`${t.tenantId}|${t.key}`, t));
    // Frequency caps count SENDING and sent messages: their counters are locked until this claim commits, so a
    // concurrent claim (another group or worker) counts after it and sees what it sends (advisory-locks.ts). Taken
    // before the policy facts are read, so a wait for the lock leaves them no older.
    await lockCapCounters(
      tx,
      messages
        .filter((m) => this.mayCountCap(m, reads.types))
        .map((m) => capCounterKey(m.tenantId, m.userId, m.channel)),
    );
    notifications.forEach((n) => reads.notifications.set(n.id, n));
    const small = notifications
      .filter((n) => n.contentBytes && n.contentBytes <= INLINE_CONTENT_BYTES)
      .map((n) => n.id);
    if (small.length > 0) {
      const rows = await runRaw<{ id: string; content: ContentValue | null }>(
        tx,
        `select id, content from notification where id in (${small.map(() => '?').join(', ')})`,
        small,
      );
      rows.forEach((row) => reads.contents.set(row.id, row.content));
    }
    for (const [tenantId, ms] of groupBy(messages, (m) => m.tenantId)) {
      reads.facts.set(
        tenantId,
        await PolicyFacts.load(
          tx,
          tenantId,
          ms.map((m) => ({ userId: m.userId, to: recipientOf(m) })),
        ),
      );
    }
    return reads;
  }

  /** One locked QUEUED message of a claim group: give up, suppress, defer, or take it (SENDING under a lease). */
  private async claimOne(
    tx: EntityManager,
    message: Message,
    reads: ClaimReads,
    book: RouteBook,
    now: Date,
    effects: GroupEffects,
  ): Promise<Claimed | undefined> {
    const { changes, fallbacks } = effects;
    if (message.attempt >= this.attemptBound(book.chain(message.tenantId, message.channel))) {
      changes.push(
        applyStatus(tx, message, MessageStatus.FAILED, now, {
          errorCode: 'MAX_ATTEMPTS',
          errorMessage: `gave up after ${message.attempt} attempts${message.errorMessage ? `; last error: ${message.errorMessage}` : ''}`,
        }),
      );
      await refreshNotifications(tx, [message], now);
      return undefined;
    }
    // Decided again at send time: consent, preferences, blocks, quiet hours and caps may have changed while the
    // message waited.
    const decision = await this.decide(tx, message, reads);
    if (decision.action === 'suppress') {
      changes.push(
        applyStatus(tx, message, MessageStatus.SUPPRESSED, now, {
          errorCode: decision.reason,
          errorMessage: decision.message,
        }),
      );
      const fallback = await this.fallback(tx, message, now);
      if (fallback) {
        changes.push(fallback.change);
        fallbacks.push(fallback.message);
      }
      await refreshNotifications(tx, [message], now);
      return undefined;
    }
    if (decision.action === 'defer') {
      message.dueAt = decision.until;
      changes.push(
        applyStatus(tx, message, MessageStatus.SCHEDULED, now, {
          errorCode: decision.reason,
          errorMessage: decision.message,
        }),
      );
      await refreshNotifications(tx, [message], now);
      return undefined;
    }
    message.attempt += 1;
    message.leaseUntil = new Date(now.getTime() + this.deps.config.dispatch.leaseMs);
    message.dueAt = null;
    // The hot path's event is written with the group's bulk insert, outside the unit of work.
    const { event, change } = transition(message, MessageStatus.SENDING, now);
    // The attempt's provider is chosen after the claim (and named by its SENT or SCHEDULED/FAILED event): the row's
    // `provider` is still the previous attempt's, which a failover leaves behind (break round b13c).
    event.provider = null;
    effects.events.push(event);
    changes.push(change);
    return { message, known: decision.known };
  }

  /**
   * Marketing email carries a one-click unsubscribe (RFC 8058): mailbox providers show an Unsubscribe button that
   * POSTs to our signed link, which revokes consent for the type.
   */
  private unsubscribeHeaders(message: Message): Record<string, string> | undefined {
    if (
      message.channel !== Channel.EMAIL ||
      message.category !== NotificationCategory.MARKETING ||
      !message.typeKey
    )
      return undefined;
    const token = createUnsubscribeToken(this.deps.config.auth.unsubscribeSecret, {
      tenantId: message.tenantId,
      userId: message.userId,
      typeKey: message.typeKey,
      address: message.to,
      messageId: message.id,
    });
    return {
      'List-Unsubscribe': `<${this.deps.config.server.publicUrl}/unsubscribe/${token}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    };
  }

  /** The policy's verdict at send time, with the type and contact it read (rendering needs them too). */
  private async decide(tx: EntityManager, message: Message, reads: ClaimReads) {
    const typeKey = message.typeKey ?? '';
    const type = (typeKey && reads.types.get(`${message.tenantId}|${typeKey}`)) || null;
    const facts = reads.facts.get(message.tenantId);
    const loaded = facts?.contact(message.userId);
    const contact = loaded
      ? loaded.value
      : await tx.findOne(ContactInfo, { tenantId: message.tenantId, userId: message.userId });
    const decision = await this.deps.policy.decide(tx, {
      tenantId: message.tenantId,
      userId: message.userId,
      channel: message.channel,
      address: message.to,
      typeKey,
      type,
      priority: message.priority,
      timing: 'send',
      messageId: message.id,
      contact,
      facts,
    });
    const notification = reads.notifications.get(message.notificationId);
    const content = reads.contents.get(message.notificationId);
    return Object.assign(decision, { known: { type, contact, notification, content } });
  }

  /** The type's next permitted fallback channel, as a new QUEUED message (fallbackUsed), when the type has one. */
  private async fallback(tx: EntityManager, message: Message, now: Date) {
    if (message.fallbackUsed || !message.typeKey) return undefined;
    const type = await tx.findOne(NotificationType, { tenantId: message.tenantId, key: message.typeKey });
    if (!type?.fallbackChannels.length) return undefined;
    // Siblings failing at once in other transactions: the channels used are read after theirs committed.
    await lockFallback(tx, message.notificationId);
    const siblings = await tx.find(Message, {
      tenantId: message.tenantId,
      notificationId: message.notificationId,
    });
    const used = new Set(siblings.map((m) => m.channel));
    // Sequential: one transaction, one connection.
    const contact = await tx.findOne(ContactInfo, { tenantId: message.tenantId, userId: message.userId });
    const notification = await tx.findOne(Notification, {
      id: message.notificationId,
      tenantId: message.tenantId,
    });
    for (const channel of type.fallbackChannels.filter((c) => !used.has(c))) {
      // An address given with the send wins over the stored one, as it does for the send's own channels.
      const address =
        inlineAddress(notification?.recipient, channel) ??
        (await storedAddress(tx, message.tenantId, message.userId, channel, contact));
      if (!address) continue;
      // WhatsApp takes free-form text only inside the customer's 24-hour window (service-window.ts).
      if (
        channel === Channel.WHATSAPP &&
        !isWhatsappTemplateSend(type, await this.whatsappTemplateOf(tx, notification), contact?.locale) &&
        !insideWindow(await this.lastWhatsappReply(tx, message.tenantId, address), now)
      ) {
        continue;
      }
      const decision = await this.deps.policy.decide(tx, {
        tenantId: message.tenantId,
        userId: message.userId,
        channel,
        address,
        typeKey: message.typeKey,
        type,
        priority: message.priority,
        timing: 'none',
      });
      if (decision.action === 'suppress') continue;
      const replacement = tx.create(Message, {
        tenantId: message.tenantId,
        notificationId: message.notificationId,
        userId: message.userId,
        channel,
        priority: message.priority,
        to: address,
        typeKey: message.typeKey,
        category: message.category,
        status: MessageStatus.QUEUED,
        attempt: 0,
        fallbackUsed: true,
        createdAt: now,
        updatedAt: now,
      });
      return {
        message: replacement,
        change: applyStatus(tx, replacement, MessageStatus.QUEUED, now, { initial: true }),
      };
    }
    return undefined;
  }

  /**
   * The send's explicit content: as the claim read it (`preloaded`, small contents), or read only now (inside the
   * content budget): the column is lazy.
   */
  private async explicitContent(
    em: EntityManager,
    notification: Notification,
    preloaded: ContentValue | null | undefined,
  ) {
    if (preloaded !== undefined) return preloaded;
    if (notification.content !== undefined) return notification.content;
    if (!notification.contentBytes) return null;
    const loaded = await em.findOneOrFail(
      Notification,
      { id: notification.id, tenantId: notification.tenantId },
      { populate: ['content'] as never, refresh: true },
    );
    return loaded.content ?? null;
  }

  /** The send's explicit WhatsApp template, read alone: the content column is lazy and may hold a whole email. */
  private async whatsappTemplateOf(
    tx: EntityManager,
    notification: Notification | null,
  ): Promise<ContentValue | null> {
    if (!notification?.contentBytes) return null;
    const [row] = await tx
      .getConnection()
      .execute<{ template: ContentValue['whatsappTemplate'] | null }[]>(
        `select content->'whatsappTemplate' as template from notification where id = ? and tenant_id = ?`,
        [notification.id, notification.tenantId],
        'all',
        tx.getTransactionContext(),
      );
    return row?.template ? { whatsappTemplate: row.template } : null;
  }

  /** When `number` last wrote to the tenant's first WhatsApp sender (service-window.ts); null when it never did. */
  private lastWhatsappReply(tx: EntityManager, tenantId: string, number: string): Promise<Date | null> {
    return new ServiceWindows(async () =>
      firstWindowSender(
        await this.routes.chain(tenantId, Channel.WHATSAPP),
        this.deps.providers.forChannel(Channel.WHATSAPP)[0]?.sender,
      ),
    ).lastInbound(tx, number);
  }

  private async render(em: EntityManager, message: Message, known: Known): Promise<RenderedContent> {
    const notification =
      known.notification ??
      (await em.findOneOrFail(Notification, {
        id: message.notificationId,
        tenantId: message.tenantId,
      }));
    // The claim read the type and contact a moment ago; only a message without a type key reads them here.
    const [type, contact] =
      message.typeKey === notification.type
        ? [known.type, known.contact]
        : await Promise.all([
            em.findOne(NotificationType, { tenantId: message.tenantId, key: notification.type }),
            em.findOne(ContactInfo, { tenantId: message.tenantId, userId: message.userId }),
          ]);
    const scope = {
      data: notification.data ?? {},
      user: {
        id: message.userId,
        email: contact?.email,
        phone: contact?.phone,
        locale: contact?.locale,
        timezone: contact?.timezone,
      },
      notification: { id: notification.id, type: notification.type, priority: notification.priority },
    };
    const rendered = await this.templates.render(
      type,
      message.channel,
      contact?.locale,
      scope,
      await this.explicitContent(em, notification, known.content),
    );
    if (message.channel === Channel.PUSH) {
      // The app receives the send's data (FCM data values are strings) and the ids to report engagement with.
      rendered.data = pushData(notification.data, {
        notificationId: notification.id,
        messageId: message.id,
        type: notification.type,
      });
      // Accept checked the data and explicit content; a template's title and body are known only now. Over FCM's
      // size the push would be refused (permanently), so it is not sent. Reserved keys are accept's: a row accepted
      // before that rule goes to FCM, whose refusal (INVALID_ARGUMENT) is recorded as the vendor's.
      const field = `content.${message.channel.toLowerCase()}.body`;
      const problem = payloadSizeProblem(rendered, pushTargetKind(message.to), field);
      if (problem) throw new TemplateLimitError(problem.message, problem.field, 'vendor');
    }
    return rendered;
  }

  /**
   * Concurrent sends record their outcomes together: one transaction locks the messages (in id order), records each
   * and refreshes the notifications once. Should the group fail, each outcome is recorded alone. Keyed by send class,
   * as claims are.
   */
  private readonly records = new GroupCommit<RecordInput, DispatchOutcome>(
    (_key, items) => this.groupOrAlone('record', items, (group) => this.recordMany(group)),
    { maxBatch: 200, inFlight: 2 },
  );

  /** Records the outcome only if this attempt still holds the row (a lease that expired may have been taken over). */
  private record(claimed: Message, outcome: SendOutcome): Promise<DispatchOutcome> {
    return this.records.submit(sendClassOf(claimed), { claimed, outcome });
  }

  private async recordMany(items: RecordInput[]): Promise<DispatchOutcome[]> {
    const effects: GroupEffects = { changes: [], fallbacks: [], events: [], refused: [], recovered: [] };
    const { changes, fallbacks } = effects;
    // Failover needs each message's tenant order; read before the rows are locked, as claims do.
    const book = await this.routes.load(items.map((i) => i.claimed.tenantId));
    const em = this.deps.orm.em.fork() as EntityManager;
    const verdicts = await em.transactional(async (tx) => {
      const locked = await tx.find(
        Message,
        { id: { $in: [...new Set(items.map((i) => i.claimed.id))] } },
        { lockMode: LockMode.PESSIMISTIC_WRITE, orderBy: { id: 'asc' } },
      );
      const byId = new Map(locked.map((m) => [m.id, m]));
      const now = this.deps.clock.now();
      const results: DispatchOutcome[] = [];
      const recorded: Message[] = [];
      for (const { claimed, outcome } of items) {
        const message = byId.get(claimed.id);
        if (
          !message ||
          message.tenantId !== claimed.tenantId ||
          message.status !== MessageStatus.SENDING ||
          message.attempt !== claimed.attempt
        ) {
          this.deps.logger.warn(
            { messageId: claimed.id, attempt: claimed.attempt, status: message?.status },
            'lease lost before recording',
          );
          results.push('skipped');
          continue;
        }
        results.push(
          await this.recordOne(
            tx,
            message,
            outcome,
            book.chain(message.tenantId, message.channel),
            now,
            effects,
          ),
        );
        recorded.push(message);
      }
      await bulkInsert(tx, DeliveryEvent, effects.events);
      await refreshNotifications(tx, recorded, now);
      return results;
    });
    await this.deps.queues.enqueueAfterCommit(fallbacks, 'fallback messages');
    this.publish(changes);
    await this.markAccounts(effects);
    return verdicts;
  }

  /**
   * Shows admins the configs whose account a vendor refused, and clears that once one sends again
   * (account-refusal.ts). After the outcomes committed and outside their transaction: the messages' records never
   * wait on (or deadlock over) config rows, and a failure here costs only the notice, which the next refusal (or
   * success) writes again.
   */
  private async markAccounts({ refused, recovered }: GroupEffects): Promise<void> {
    if (refused.length === 0 && recovered.length === 0) return;
    try {
      const em = this.deps.orm.em.fork();
      const now = this.deps.clock.now();
      await markAccountsRefused(em, refused, now);
      await markAccountsRecovered(em, recovered, now);
      // This process's next send of the tenant reads the mark it just wrote (a success through the config clears it,
      // a refused config with an open circuit fails its messages rather than holding them); other workers read it
      // within CHANNEL_CONFIG_ROUTES_TTL_MS.
      new Set([...refused, ...recovered].map((r) => r.tenantId)).forEach((t) => this.routes.forget(t));
    } catch (error) {
      this.deps.logger.warn(
        { err: error, channelConfigIds: [...refused, ...recovered].map((r) => r.channelConfigId) },
        'account refusal not recorded on its channel config',
      );
    }
  }

  /** One locked SENDING message: SENT, SCHEDULED for a retry or failover, or FAILED (with its effects and fallback). */
  private async recordOne(
    tx: EntityManager,
    message: Message,
    outcome: SendOutcome,
    chain: RouteEntry[],
    now: Date,
    effects: GroupEffects,
  ): Promise<DispatchOutcome> {
    const { changes, fallbacks } = effects;
    const { config } = this.deps;
    message.leaseUntil = null;
    effects.events.push(...skippedEvents(message, outcome.skipped, now));
    if (outcome.route) {
      message.provider = outcome.route.provider.id;
      // Which account sent it: webhooks per config may only touch the messages sent through that config.
      message.channelConfigId = outcome.route.channelConfigId;
    }
    if (outcome.content) message.content = outcome.content;
    let verdict: DispatchOutcome;
    if (outcome.result) {
      message.providerMessageId = outcome.result.providerMessageId;
      // Estimated from the rendered content; the provider's own segment count wins when it reports one.
      const estimate = estimateCost(
        this.deps.config.prices,
        message.channel,
        message.to,
        outcome.content ?? {},
      );
      message.cost = estimate.cost;
      message.costSource = 'estimate';
      message.segments = outcome.result.segments ?? estimate.segments ?? null;
      if (outcome.route?.refusedAtSend && outcome.route.channelConfigId) {
        effects.recovered.push({
          channelConfigId: outcome.route.channelConfigId,
          tenantId: message.tenantId,
        });
      }
      const { event, change } = transition(message, MessageStatus.SENT, now, { errorCode: null });
      effects.events.push(event);
      changes.push(change);
      verdict = 'sent';
    } else {
      const error = outcome.error!;
      const retryable = error instanceof ProviderError && error.retryable;
      // The vendor refused the account, not the message (adapters decide it): no retry on this route helps, the
      // next route of the tenant's order may send it.
      const accountRefused = error instanceof ProviderError && error.details.accountRefused === true;
      const code = error instanceof ProviderError || error instanceof TemplateError ? error.code : 'INTERNAL';
      // Counted per route key: a tenant config's failures are its own, never the shared provider's.
      const providerId = outcome.route?.key;
      if ((retryable || accountRefused) && providerId) {
        message.providerFailures = {
          ...message.providerFailures,
          // Configs known refused and left untried are used up too (provider-route.ts `refused`).
          ...Object.fromEntries(
            (outcome.refusedRoutes ?? []).map((r) => [r.key, config.dispatch.maxAttempts]),
          ),
          // A refused account is used up for this message at once: it fails over without backoff retries.
          [providerId]: accountRefused
            ? config.dispatch.maxAttempts
            : (message.providerFailures[providerId] ?? 0) + 1,
        };
      }
      // A config already marked refused (its row says so) is not written again.
      if (accountRefused && outcome.route?.channelConfigId && !outcome.route.refusedAtSend) {
        effects.refused.push({
          channelConfigId: outcome.route.channelConfigId,
          tenantId: message.tenantId,
          error,
        });
      }
      const left = remainingProviders(chain, message.providerFailures, config.dispatch.maxAttempts);
      if ((retryable || accountRefused) && left.length > 0 && message.attempt < this.attemptBound(chain)) {
        // Failing over (this provider used its attempts, or its circuit just opened) goes at once; a retry on
        // the same provider backs off.
        const next = left.find((p) => !this.circuits.openHere(p.key)) ?? left[0];
        const failover = next.key !== providerId;
        const wait = failover
          ? 0
          : backoffMs(
              message.providerFailures[providerId ?? ''] ?? message.attempt,
              config.dispatch.backoffBaseMs,
              config.dispatch.backoffMaxMs,
              error.details.retryAfterMs,
            );
        message.dueAt = new Date(now.getTime() + wait);
        const why = accountRefused ? `${providerId} refused the account: ${error.message}` : error.message;
        changes.push(
          applyStatus(tx, message, MessageStatus.SCHEDULED, now, {
            errorCode: code,
            errorMessage: failover ? `${why}; failing over from ${providerId} to ${next.key}` : why,
          }),
        );
        verdict = 'retry';
      } else {
        const exhausted = retryable;
        changes.push(
          applyStatus(tx, message, MessageStatus.FAILED, now, {
            errorCode: exhausted ? 'MAX_ATTEMPTS' : code,
            errorMessage: exhausted
              ? `gave up after ${message.attempt} attempts; last error ${code}: ${error.message}`
              : accountRefused
                ? `${providerId ?? 'the provider'} refused the account (no route of this tenant's order is left): ${error.message}`
                : error.message,
          }),
        );
        // A refused account says nothing about the recipient: no opt-out, no device deactivated.
        if (!accountRefused) await applyFailureEffects(tx, message, error, now);
        const fallback = await this.fallback(tx, message, now);
        if (fallback) {
          changes.push(fallback.change);
          fallbacks.push(fallback.message);
        }
        verdict = 'failed';
      }
    }
    return verdict;
  }

  /**
   * Runs one dispatch job. Safe to run twice for the same message: only the claim winner sends. `sendClass` is the
   * lane's ('critical' for the CRITICAL lane): it picks the claim group before the row is read.
   */
  async dispatch(
    job: { messageId: string; tenantId: string; attempt: number },
    sendClass: SendClass = 'bulk',
  ): Promise<DispatchOutcome> {
    const claim = await this.claim(job.messageId, job.tenantId, sendClass);
    if (!claim) return 'skipped';
    const claimed = claim.message;
    const { chain, skipped } = await this.routes.route(claimed.tenantId, claimed.channel);
    if (chain.length === 0) {
      const why = skipped.map((s) => `; ${s.reason}`).join('');
      return this.record(claimed, {
        skipped,
        error: new ProviderError(
          `no provider is configured for ${claimed.channel}${this.deps.providers.forChannel(claimed.channel).length > 0 ? ' among this tenant’s channel configs (useSharedProviders is false)' : ''}${why}`,
          'PROVIDER_NOT_CONFIGURED',
          false,
        ),
      });
    }
    const route = await chooseProvider(
      chain,
      claimed.providerFailures,
      this.deps.config.dispatch.maxAttempts,
      this.circuits,
    );
    if (route.kind === 'wait') {
      return this.recordNotSent(
        claimed,
        { code: 'CIRCUIT_OPEN', message: `circuit open for ${route.keys.join(', ')}` },
        spreadWake(route.retryInMs),
        { channelFallback: true },
      );
    }
    if (route.kind === 'refused') {
      // What the vendor said when it refused the account (the config's validation): the message ends with that code
      // (or fails over to a channel fallback) instead of waiting for an account only its tenant can repair.
      const last = route.entries[route.entries.length - 1];
      return this.record(claimed, {
        skipped,
        route: last,
        refusedRoutes: route.entries,
        error: new ProviderError(
          `circuit open after the vendor refused the account (${route.code})${last.refusal ? `: ${last.refusal}` : ''}`,
          route.code,
          false,
          { accountRefused: true },
        ),
      });
    }
    if (route.kind === 'exhausted') {
      // Only reachable when DISPATCH_MAX_ATTEMPTS was lowered while the message waited.
      return this.record(claimed, {
        skipped,
        error: new ProviderError('every provider used its attempts', 'PROVIDERS_EXHAUSTED', false),
      });
    }
    const entry = route.entry;
    // Waiting longer than a quarter of the lease for room would risk the lease; the message goes back instead.
    const budget = await this.contentBudget.acquire(
      this.worstCaseChars(claimed, claim.known),
      Math.min(15_000, this.deps.config.dispatch.leaseMs / 4),
      claimed.priority === Priority.CRITICAL,
    );
    if (!budget) {
      return this.recordNotSent(
        claimed,
        { code: 'CONTENT_BUDGET', message: 'this worker holds its most content in flight; retrying shortly' },
        1_000,
      );
    }
    try {
      return await this.renderAndSend(claimed, claim.known, entry, skipped, (chars) => budget.resize(chars));
    } finally {
      budget.release();
    }
  }

  /**
   * Renders, sends through the entry's provider and records the outcome of a claimed message. Throttle and circuit
   * are the entry's key: a tenant config's own (`config:<id>`, at its vendor's rate), or the shared provider's.
   */
  private async renderAndSend(
    claimed: Message,
    known: Known,
    entry: RouteEntry,
    skipped: SkippedConfig[],
    rendered: (chars: number) => void,
  ): Promise<DispatchOutcome> {
    const { provider, key } = entry;
    let content: RenderedContent;
    try {
      content = await this.render(this.deps.orm.em.fork(), claimed, known);
      rendered(contentChars(content));
    } catch (error) {
      // A template problem is permanent; anything else (database gone) is left to the lease expiry to retry.
      if (error instanceof TemplateError) return this.record(claimed, { route: entry, error, skipped });
      throw error;
    }
    const slot = await this.throttle.acquire(key, sendClassOf(claimed), provider.id);
    if (!slot.ok) {
      return this.recordNotSent(
        claimed,
        { code: 'RATE_LIMITED', message: `${key} send rate reached` },
        slot.retryInMs,
      );
    }
    try {
      const result = await this.circuits.execute(key, () =>
        provider.send(payloadFor(claimed.channel, claimed.to, content, this.unsubscribeHeaders(claimed)), {
          messageId: claimed.id,
          tenantId: claimed.tenantId,
          attempt: claimed.attempt,
        }),
      );
      return await this.record(claimed, { result, route: entry, content, skipped });
    } catch (error) {
      if (error instanceof CircuitOpenError) {
        // Another send opened the circuit between the choice and the call, or holds its half-open trial: nothing was
        // sent. Chosen again when the circuit may let a request through, not at once: every message waiting on it
        // would otherwise wake, claim and write its history again many times per pause (break round b13c).
        const availability = await this.circuits.availability(key);
        const retryInMs = availability.ok ? CIRCUIT_RECHECK_MS : availability.retryInMs;
        return this.recordNotSent(
          claimed,
          { code: 'CIRCUIT_OPEN', message: error.message },
          spreadWake(retryInMs),
        );
      }
      const classified =
        error instanceof ProviderError
          ? error
          : new ProviderError((error as Error).message, 'INTERNAL', true);
      this.deps.logger.warn(
        { messageId: claimed.id, code: classified.code, retryable: classified.retryable },
        'provider send failed',
      );
      return this.record(claimed, { route: entry, content, error: classified, skipped });
    }
  }
}
