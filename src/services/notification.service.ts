import { auditSourceOf, recordAudit } from './audit.service';
import { GraphQLError } from 'graphql';
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { FlushMode, LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import {
  Channel,
  ContactInfo,
  type ContentValue,
  DeliveryEvent,
  Device,
  Message,
  MessageStatus,
  Notification,
  NotificationCategory,
  NotificationStatus,
  NotificationType,
  Priority,
  type RecipientValue,
  SENT_STATUSES,
} from '../entities';
import {
  normalizeEmail,
  normalizeFcmCondition,
  normalizeFcmTopic,
  normalizePhone,
  requireNonEmpty,
} from './address-validation';
import { contactAddress } from './contact-address';
import { bulkInsert } from '../persistence/bulk-insert';
import type { Config } from '../config/env';
import type { Budgets, Spend } from './budget.service';
import { PolicyFacts } from './policy-facts';
import type { Caller, DomainDeps } from './deps';
import {
  BadUserInputError,
  BudgetExceededError,
  ConflictError,
  isConnectionError,
  ItemNotStoredError,
  NotCancellableError,
  NotFoundError,
  ServiceUnavailableError,
} from './errors';
import { isUuid } from './query.service';
import { applyStatus, rollup, transition, type StatusChange } from './message-status';
import { estimateCost, roundUsd, sumUsd } from './cost';
import { isWhatsappTemplateSend, pickTemplate } from './template.service';
import { GroupCommit, settle, type Settled } from '../persistence/group-commit';
import {
  assertDateTime,
  assertJson,
  assertMaxBytes,
  assertMaxLength,
  assertStorable,
  normalizeUrl,
  quote,
} from './input-guard';
import { BODY_LIMIT, INPUT_LIMITS, MEDIA_LIMIT } from './input-limits';
import { payloadSizeProblem, pushData, reservedDataKeyProblem } from './push-payload';
import { fcmPayloadBytes } from '../providers/vendor-limits';
import {
  firstWindowSender,
  insideWindow,
  outsideWindowError,
  outsideWindowMessage,
  ServiceWindows,
} from './service-window';
import type { TenantRoutes } from './tenant-routes';
import { checkWhatsappTemplate } from './whatsapp-template';
import { EventLoopPace } from './event-loop-pace';
import type { Decision } from './policy.service';

export interface SendNotificationCommand {
  userId: string;
  type: string;
  data?: Record<string, unknown> | null;
  channels?: Channel[] | null;
  priority?: Priority | null;
  scheduledAt?: Date | null;
  idempotencyKey?: string | null;
  to?: RecipientValue | null;
  content?: ContentValue | null;
}

interface PlannedMessage {
  channel: Channel;
  to: string;
  suppressedReason?: string;
  suppressedMessage?: string;
  /** Deferred by policy (quiet hours) to this moment. */
  deferredUntil?: Date;
  deferredReason?: string;
  deferredMessage?: string;
  fallbackUsed?: boolean;
}

const ADDRESS_FIELD: Record<Channel, string> = {
  [Channel.EMAIL]: 'to.email',
  [Channel.SMS]: 'to.phone',
  [Channel.WHATSAPP]: 'to.whatsapp',
  [Channel.PUSH]: 'to.deviceTokens',
};

const REQUIRED_CONTENT: Record<Channel, { fields: (keyof ContentValue)[]; hint: string }> = {
  [Channel.EMAIL]: { fields: ['subject'], hint: 'content.subject and content.text or content.html' },
  [Channel.SMS]: { fields: ['body', 'text'], hint: 'content.body' },
  [Channel.WHATSAPP]: { fields: ['body', 'text'], hint: 'content.body' },
  [Channel.PUSH]: { fields: ['title', 'body'], hint: 'content.title or content.body' },
};

export const MAX_BATCH = 1_000;

/** Message.error.code of a WHATSAPP message suppressed because it would be free-form outside the window. */
export const OUTSIDE_SERVICE_WINDOW = 'outside_service_window';

type Plan = Omit<Notification, 'id' | 'tenantId' | 'status' | 'createdAt' | 'updatedAt'> & {
  planned: PlannedMessage[];
  category: NotificationCategory;
};
type Prepared = { existing: Notification } | { plan: Plan };
/** What a batch reads once for all its sends. */
interface BatchReads {
  types: Map<string, Promise<NotificationType | null>>;
  facts: PolicyFacts;
  /** Notifications already made under the batch's idempotency keys. */
  keyed: Map<string, Notification>;
  /** The last WhatsApp reply of each number the batch may send free-form to. */
  windows: ServiceWindows;
}
interface Staged {
  notification: Notification;
  messages: Message[];
  events: DeliveryEvent[];
  changes: StatusChange[];
}
export interface BatchItem {
  index: number;
  notification?: Notification;
  error?: { code: string; message: string };
}
/** One send of a batch: its notification (new or replayed), or the error that refused it. */
interface Accepted {
  index: number;
  notification?: Notification;
  error?: GraphQLError;
}
export interface BatchOutcome {
  results: BatchItem[];
  summary: { total: number; accepted: number; failed: number; estimatedCost: number };
}

/** The estimated cost of a planned send: its messages that will go out (explicit content, else one SMS segment). */
function planCost(plan: Plan, prices: Config['prices']): number {
  return sumUsd(
    plan.planned
      .filter((p) => !p.suppressedReason)
      .map((p) => estimateCost(prices, p.channel, p.to, plan.content ?? {}).cost),
  );
}

const addSpend = (spend: Spend, cost: number): Spend => ({
  today: roundUsd(spend.today + cost),
  month: roundUsd(spend.month + cost),
});

/** The same key with a different input is a client bug, not a retry: refuse rather than guess. */
function replay(existing: Notification, key: string, inputHash: string | null): Notification {
  if (existing.inputHash && existing.inputHash !== inputHash) {
    throw new ConflictError(
      `idempotencyKey: ${quote(key)} was already used with a different input (notification ${existing.id})`,
      'idempotencyKey',
    );
  }
  return existing;
}

/** Canonical JSON (sorted keys) of a send's input without its key, hashed. */
function hashInput(input: SendNotificationCommand): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (value instanceof Date) return value.toISOString();
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>)
          .filter(([, v]) => v !== undefined && v !== null)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => [k, canonical(v)]),
      );
    }
    return value;
  };
  const { idempotencyKey: _key, ...rest } = input;
  return createHash('sha256')
    .update(JSON.stringify(canonical(rest)))
    .digest('hex');
}

/** The push content field that takes the most bytes (for naming a size problem); `text` stands in for a missing body. */
function largestField(content: ContentValue | null): string {
  const fields = (['body', 'text', 'title', 'imageUrl'] as const).filter(
    (f) => content?.[f] != null && (f !== 'text' || content.body == null),
  );
  const size = (f: (typeof fields)[number]) => Buffer.byteLength(content?.[f] ?? '');
  const largest = fields.reduce<(typeof fields)[number] | undefined>(
    (best, f) => (best === undefined || size(f) > size(best) ? f : best),
    undefined,
  );
  return `content.${largest ?? 'body'}`;
}

/** Accepts sends: validates at the edge, writes the notification and its messages in one transaction, then enqueues. */
export class NotificationService {
  constructor(
    private readonly deps: DomainDeps,
    /** Each tenant's provider order: its WhatsApp window is its first WhatsApp sender's. */
    private readonly routes: TenantRoutes,
  ) {}

  /** The windows of the sender a tenant's WhatsApp messages go from (service-window.ts), read when first needed. */
  private windowsOf(tenantId: string): ServiceWindows {
    return new ServiceWindows(async () =>
      firstWindowSender(
        await this.routes.chain(tenantId, Channel.WHATSAPP),
        this.deps.providers.forChannel(Channel.WHATSAPP)[0]?.sender,
      ),
    );
  }

  private validateRecipient(to: RecipientValue | null | undefined): RecipientValue {
    if (!to) return {};
    const tokens = to.deviceTokens?.length ?? 0;
    if (tokens > INPUT_LIMITS.deviceTokensPerSend.max) {
      throw new BadUserInputError(
        `to.deviceTokens: at most ${INPUT_LIMITS.deviceTokensPerSend.max} per send (got ${tokens}); use to.topic for an audience`,
        'to.deviceTokens',
      );
    }
    return {
      email: to.email ? normalizeEmail(to.email, 'to.email') : null,
      phone: to.phone ? normalizePhone(to.phone, 'to.phone') : null,
      whatsapp: to.whatsapp ? normalizePhone(to.whatsapp, 'to.whatsapp') : null,
      deviceTokens:
        to.deviceTokens?.map((t, i) =>
          requireNonEmpty(t, `to.deviceTokens[${i}]`, 4096, INPUT_LIMITS.deviceTokenBytes.max),
        ) ?? null,
      topic: to.topic ? normalizeFcmTopic(to.topic, 'to.topic') : null,
      condition: to.condition ? normalizeFcmCondition(to.condition, 'to.condition') : null,
    };
  }

  private validateContent(content: ContentValue | null | undefined): ContentValue | null {
    if (!content) return null;
    assertMaxLength(content.subject, 'content.subject', INPUT_LIMITS.subject.max, 'RFC 5322 line length');
    for (const field of ['text', 'html', 'title', 'body'] as const) {
      assertMaxBytes(content[field], `content.${field}`, INPUT_LIMITS.contentFieldBytes.max);
    }
    // The most any channel takes; each channel's own cap is checked against the send's channels.
    if ((content.mediaUrls?.length ?? 0) > INPUT_LIMITS.mediaUrls.max) {
      throw new BadUserInputError(
        `content.mediaUrls: at most ${INPUT_LIMITS.mediaUrls.max} media per message (Twilio's maximum; got ${content.mediaUrls!.length})`,
        'content.mediaUrls',
      );
    }
    // Stored and sent as the URL Standard serialises them, so the vendor fetches what was checked (normalizeUrl).
    const urls: ContentValue = {
      ...content,
      ...(content.mediaUrls
        ? { mediaUrls: content.mediaUrls.map((url, i) => normalizeUrl(url, `content.mediaUrls[${i}]`)) }
        : {}),
      ...(content.imageUrl ? { imageUrl: normalizeUrl(content.imageUrl, 'content.imageUrl') } : {}),
    };
    if (!urls.whatsappTemplate) return urls;
    const checked = checkWhatsappTemplate(urls.whatsappTemplate, 'content.whatsappTemplate');
    if ('problem' in checked) throw new BadUserInputError(checked.problem.message, checked.problem.field);
    return { ...urls, whatsappTemplate: checked.value };
  }

  /** Addresses from `to` first, then stored contact info and active devices. */
  private async plan(
    em: EntityManager,
    tenantId: string,
    userId: string,
    channels: Channel[],
    explicit: Set<Channel>,
    to: RecipientValue,
    contact: ContactInfo | null,
  ): Promise<PlannedMessage[]> {
    const needsDevices =
      channels.includes(Channel.PUSH) && !to.deviceTokens?.length && !to.topic && !to.condition;
    // registerDevice keeps a user at activeDevicesPerUser; the limit also bounds users who had more before it.
    const devices = needsDevices
      ? (
          await em.find(
            Device,
            { tenantId, userId, active: true },
            { orderBy: { createdAt: 'desc' }, limit: INPUT_LIMITS.activeDevicesPerUser.max },
          )
        ).reverse()
      : [];
    const planned: PlannedMessage[] = [];
    for (const channel of channels) {
      const addresses: string[] = [];
      if (channel === Channel.EMAIL)
        addresses.push(...[to.email ?? contactAddress(contact, channel)].filter((a): a is string => !!a));
      if (channel === Channel.SMS)
        addresses.push(...[to.phone ?? contactAddress(contact, channel)].filter((a): a is string => !!a));
      if (channel === Channel.WHATSAPP)
        addresses.push(...[to.whatsapp ?? contactAddress(contact, channel)].filter((a): a is string => !!a));
      if (channel === Channel.PUSH) {
        if (to.deviceTokens?.length) addresses.push(...new Set(to.deviceTokens));
        if (to.topic) addresses.push(`topic:${to.topic}`);
        if (to.condition) addresses.push(`condition:${to.condition}`);
        if (addresses.length === 0) addresses.push(...devices.map((d) => d.token));
      }
      if (addresses.length > 0) {
        planned.push(...addresses.map((address) => ({ channel, to: address })));
      } else if (explicit.has(channel)) {
        throw new BadUserInputError(
          `${ADDRESS_FIELD[channel]}: channel ${channel} has no address for user ${quote(userId)}; give ${ADDRESS_FIELD[channel]} or store one (updateContact / registerDevice)`,
          ADDRESS_FIELD[channel],
        );
      } else {
        planned.push({
          channel,
          to: '',
          suppressedReason: 'no_address',
          suppressedMessage: `no ${channel} address for this user`,
        });
      }
    }
    return planned;
  }

  /**
   * Consent, preferences and blocks decide each planned message at accept (and again just before sending): a
   * blocked one is accepted as SUPPRESSED with the reason and, when the type names fallback channels, replaced by a
   * message on the first permitted one (fallbackUsed); one due inside quiet hours waits SCHEDULED for the window's end.
   * A send scheduled for later is only checked for consent here: its timing is decided when it is due.
   * A free-form WHATSAPP message due outside the customer's 24-hour window (service-window.ts) is refused with
   * OUTSIDE_SERVICE_WINDOW when the send names WHATSAPP in `channels`; from the type's default channels or as a
   * fallback, it is SUPPRESSED with `outside_service_window` (and the next fallback channel is tried).
   */
  private async applyPolicy(
    em: EntityManager,
    context: {
      tenantId: string;
      userId: string;
      typeKey: string;
      type: NotificationType | null;
      priority: Priority;
      later: boolean;
      /** When the send is due: scheduledAt when later, else now. */
      due: Date;
      explicit: Set<Channel>;
      content: ContentValue | null;
      to: RecipientValue;
      contact: ContactInfo | null;
      facts?: PolicyFacts;
      windows: ServiceWindows;
    },
    planned: PlannedMessage[],
  ): Promise<void> {
    const decideFor = async (p: PlannedMessage): Promise<Decision> => {
      const decision = await this.deps.policy.decide(em, {
        tenantId: context.tenantId,
        userId: context.userId,
        channel: p.channel,
        address: p.to,
        typeKey: context.typeKey,
        type: context.type,
        priority: context.priority,
        timing: context.later ? 'none' : 'accept',
        contact: context.contact,
        facts: context.facts,
      });
      if (decision.action === 'suppress' || p.channel !== Channel.WHATSAPP) return decision;
      if (isWhatsappTemplateSend(context.type, context.content, context.contact?.locale)) return decision;
      const due = decision.action === 'defer' ? decision.until : context.due;
      const last = await context.windows.lastInbound(em, p.to);
      if (insideWindow(last, due)) return decision;
      return {
        action: 'suppress',
        reason: OUTSIDE_SERVICE_WINDOW,
        message: outsideWindowMessage(p.to, last, due),
      };
    };
    const used = new Set(planned.map((p) => p.channel));
    let fallbacksLeft = context.type?.fallbackChannels.filter((c) => !used.has(c)) ?? [];
    for (const p of [...planned]) {
      if (p.suppressedReason) continue;
      const decision = await decideFor(p);
      if (decision.action === 'defer') {
        Object.assign(p, {
          deferredUntil: decision.until,
          deferredReason: decision.reason,
          deferredMessage: decision.message,
        });
      }
      if (decision.action !== 'suppress') continue;
      if (decision.reason === OUTSIDE_SERVICE_WINDOW && context.explicit.has(p.channel)) {
        const last = await context.windows.lastInbound(em, p.to);
        throw outsideWindowError('content.body', p.to, last, context.due);
      }
      Object.assign(p, { suppressedReason: decision.reason, suppressedMessage: decision.message });
      for (const channel of fallbacksLeft) {
        const [candidate] = await this.plan(
          em,
          context.tenantId,
          context.userId,
          [channel],
          new Set(),
          context.to,
          context.contact,
        );
        if (!candidate || candidate.suppressedReason) continue;
        const fallback = await decideFor(candidate);
        if (fallback.action === 'suppress') continue;
        if (fallback.action === 'defer') {
          Object.assign(candidate, {
            deferredUntil: fallback.until,
            deferredReason: fallback.reason,
            deferredMessage: fallback.message,
          });
        }
        planned.push({ ...candidate, fallbackUsed: true });
        fallbacksLeft = fallbacksLeft.filter((c) => c !== channel);
        break;
      }
    }
  }

  private checkContent(
    type: NotificationType | null,
    key: string,
    channels: Channel[],
    content: ContentValue | null,
    push: { data: Record<string, unknown> | null | undefined; to: RecipientValue },
  ) {
    this.checkContentSize(channels, content);
    // A push may also come from the type's fallback channels, and carries the same data.
    if (channels.includes(Channel.PUSH) || type?.fallbackChannels.includes(Channel.PUSH))
      this.checkPushPayload(key, content, push.data, push.to);
    for (const channel of channels) {
      if (pickTemplate(type, channel)) continue;
      if (channel === Channel.WHATSAPP && content?.whatsappTemplate) continue;
      const rule = REQUIRED_CONTENT[channel];
      const given = rule.fields.some((f) => {
        const value = content?.[f];
        return typeof value === 'string' && value.trim() !== '';
      });
      const emailBody = channel !== Channel.EMAIL || Boolean(content?.text?.trim() || content?.html?.trim());
      if (!given || !emailBody) {
        const field = type ? 'content' : 'type';
        const why = type
          ? `type ${quote(key)} has no ${channel} template`
          : `unknown notification type ${quote(key)} (register it with upsertNotificationType)`;
        throw new BadUserInputError(`${field}: ${why}; give ${rule.hint}`, field);
      }
    }
  }

  /**
   * Explicit content no vendor of the send's channels could take is refused at accept (rendered templates are
   * checked at dispatch): the SMS/WhatsApp body (body, else text) and push title + body. Limits and their sources:
   * input-limits.ts.
   */
  private checkContentSize(channels: Channel[], content: ContentValue | null) {
    if (!content) return;
    for (const channel of channels) {
      const limit = BODY_LIMIT[channel];
      // A WhatsApp template goes without the body; the body may still be SMS's.
      if (limit && !(channel === Channel.WHATSAPP && content.whatsappTemplate)) {
        const field = content.body != null ? 'content.body' : 'content.text';
        assertMaxLength(content.body ?? content.text, field, limit.max, `${channel}: ${limit.rule}`);
      }
      const media = MEDIA_LIMIT[channel];
      const given = content.mediaUrls?.length ?? 0;
      if (media && given > media.max) {
        throw new BadUserInputError(
          `content.mediaUrls: at most ${media.max} on ${channel} (${media.rule}; got ${given})`,
          'content.mediaUrls',
        );
      }
    }
  }

  /**
   * The push as FCM will see it (push-payload.ts): the send's data with Herald's ids, and the explicit title, body
   * and image (a template's are checked when rendered). Refused: a reserved data key, naming it, or a payload over
   * 4,096 bytes (2,048 when the send goes to a topic or condition), naming the size.
   */
  private checkPushPayload(
    typeKey: string,
    content: ContentValue | null,
    data: Record<string, unknown> | null | undefined,
    to: RecipientValue,
  ) {
    // Ids are UUIDs, made when the rows are: any UUID measures the same.
    const id = '00000000-0000-0000-0000-000000000000';
    const pushed = pushData(data, { notificationId: id, messageId: id, type: typeKey });
    const notification = {
      title: content?.title,
      body: content?.body ?? content?.text,
      imageUrl: content?.imageUrl,
    };
    // The size is named after what carries most of it: the send's data, or the explicit content.
    const own = Object.keys(data ?? {});
    const dataBytes = fcmPayloadBytes({ data: Object.fromEntries(own.map((k) => [k, pushed[k]])) });
    const contentBytes = fcmPayloadBytes({ notification });
    const problem =
      reservedDataKeyProblem(data) ??
      payloadSizeProblem(
        { ...notification, data: pushed },
        to.topic || to.condition ? 'topic' : 'token',
        dataBytes >= contentBytes ? 'data' : largestField(content),
      );
    if (problem) throw new BadUserInputError(problem.message, problem.field);
  }

  /**
   * What every send passes before anything reads with it (a batch's shared reads included): strings PostgreSQL can
   * store, `data` within its depth and size, ids within their lengths, scheduledAt within the horizon. Throws
   * BAD_USER_INPUT naming the field and the rule.
   */
  private checkEdge(input: SendNotificationCommand): void {
    const { data, ...rest } = input;
    assertJson(data, 'data');
    // A send is shallow (content.mediaUrls[0] is three levels down); its own caps follow field by field.
    assertStorable(rest, '', { maxDepth: 4, maxString: INPUT_LIMITS.contentFieldBytes.max });
    assertMaxLength(input.userId, 'userId', INPUT_LIMITS.userId.max);
    assertMaxLength(input.type, 'type', INPUT_LIMITS.type.max);
    assertMaxLength(input.idempotencyKey, 'idempotencyKey', INPUT_LIMITS.idempotencyKey.max);
    this.checkScheduledAt(input.scheduledAt);
  }

  /**
   * A scheduledAt beyond the horizon (SCHEDULE_MAX_AHEAD_DAYS, default 365) is refused: a year-9999 send is a client
   * bug that would hold budget and rows forever. One in the past (however far) is sent now.
   */
  private checkScheduledAt(at: Date | null | undefined): void {
    if (!at) return;
    assertDateTime(at, 'scheduledAt');
    const days = this.deps.config.dispatch.scheduleMaxAheadDays;
    if (at.getTime() - this.deps.clock.now().getTime() > days * 86_400_000) {
      throw new BadUserInputError(
        `scheduledAt: must be at most ${days} days ahead (SCHEDULE_MAX_AHEAD_DAYS); got ${at.toISOString()}`,
        'scheduledAt',
      );
    }
  }

  /**
   * Validates one send at the edge and plans its messages (addresses, policy); reads only, stores nothing. An
   * idempotency key already used answers with its notification (or CONFLICT when the input differs).
   */
  private async prepare(
    em: EntityManager,
    caller: Caller,
    input: SendNotificationCommand,
    reads: BatchReads,
  ): Promise<Prepared> {
    const { types, facts, keyed } = reads;
    const { tenantId } = caller;
    const userId = requireNonEmpty(input.userId, 'userId', INPUT_LIMITS.userId.max);
    const typeKey = requireNonEmpty(input.type, 'type', INPUT_LIMITS.type.max);
    const to = this.validateRecipient(input.to);
    const content = this.validateContent(input.content);
    const idempotencyKey = input.idempotencyKey
      ? requireNonEmpty(input.idempotencyKey, 'idempotencyKey', INPUT_LIMITS.idempotencyKey.max)
      : null;
    const inputHash = idempotencyKey ? hashInput(input) : null;
    const existing = idempotencyKey ? keyed.get(idempotencyKey) : undefined;
    if (existing) return { existing: replay(existing, idempotencyKey!, inputHash) };
    if (!types.has(typeKey)) types.set(typeKey, em.findOne(NotificationType, { tenantId, key: typeKey }));
    const type = await types.get(typeKey)!;
    const explicit = new Set(input.channels ?? []);
    const channels = input.channels?.length ? [...explicit] : (type?.defaultChannels ?? []);
    if (channels.length === 0) {
      throw new BadUserInputError(
        type
          ? `channels: none given and type ${quote(typeKey)} has no default channels`
          : `type: unknown notification type ${quote(typeKey)} and no channels given`,
        type ? 'channels' : 'type',
      );
    }
    this.checkContent(type, typeKey, channels, content, { data: input.data, to });
    // Read once (or preloaded for the batch): addresses come from it, and the policy needs its timezone.
    const contact = (facts?.contact(userId) ?? { value: await em.findOne(ContactInfo, { tenantId, userId }) })
      .value;
    const planned = await this.plan(em, tenantId, userId, channels, explicit, to, contact);
    const priority = input.priority ?? type?.defaultPriority ?? Priority.MEDIUM;
    const now = this.deps.clock.now();
    const later = Boolean(input.scheduledAt && input.scheduledAt > now);
    const due = later ? input.scheduledAt! : now;
    await this.applyPolicy(
      em,
      {
        tenantId,
        userId,
        typeKey,
        type,
        priority,
        later,
        due,
        explicit,
        content,
        to,
        contact,
        facts,
        windows: reads.windows,
      },
      planned,
    );
    return {
      plan: {
        userId,
        type: typeKey,
        data: input.data ?? null,
        priority,
        channels,
        recipient: input.to ? to : null,
        content,
        scheduledAt: input.scheduledAt ?? null,
        idempotencyKey,
        inputHash,
        planned,
        // A key without a type is sent only with explicit content and counts as TRANSACTIONAL (CONTRACT.md).
        category: type?.category ?? NotificationCategory.TRANSACTIONAL,
      },
    };
  }

  /**
   * One transaction for everything staged (one insert per table), then one enqueue per lane.
   * If Redis refuses the jobs, the rows are taken back: nothing half-accepted. Should that fail too, the scheduler
   * re-enqueues them.
   */
  private async commit(
    em: EntityManager,
    caller: Caller,
    staged: Staged[],
    budgets: Budgets,
  ): Promise<{ before: Spend; after: Spend } | undefined> {
    // Outside the unit of work: its change-set computation cost more of an accept's CPU than PostgreSQL's insert.
    const held = await em.transactional(async (tx) => {
      // First, under the tenant's spend lock: the budget check that holds against concurrent accepts.
      const spend = await this.deps.budgets.holdWithin(
        tx,
        caller.tenantId,
        budgets,
        staged.map((s) => ({
          cost: sumUsd(s.messages.map((m) => m.cost ?? 0)),
          critical: s.notification.priority === Priority.CRITICAL,
        })),
      );
      await bulkInsert(
        tx,
        Notification,
        staged.map((s) => s.notification),
      );
      await bulkInsert(
        tx,
        Message,
        staged.flatMap((s) => s.messages),
      );
      await bulkInsert(
        tx,
        DeliveryEvent,
        staged.flatMap((s) => s.events),
      );
      return spend;
    });
    const queued = staged.flatMap((s) => s.messages.filter((m) => m.status === MessageStatus.QUEUED));
    try {
      await this.deps.queues.enqueue(queued);
    } catch (error) {
      this.deps.logger.error({ err: error, notifications: staged.length }, 'enqueue failed after commit');
      await em
        .nativeDelete(Notification, {
          id: { $in: staged.map((s) => s.notification.id) },
          tenantId: caller.tenantId,
        })
        .catch((deleteError: unknown) =>
          this.deps.logger.error(
            { err: deleteError },
            'could not withdraw notifications; the scheduler will send them',
          ),
        );
      throw new ServiceUnavailableError('Redis');
    }
    // Ten thousand publishes in one turn make one pipeline write that holds the loop for about a second.
    const pace = new EventLoopPace();
    for (const item of staged) {
      for (const change of item.changes) {
        this.deps.pubsub.publish(change);
        await pace.turn();
      }
    }
    return held;
  }

  private unavailable(error: unknown): never {
    if (isConnectionError(error)) {
      this.deps.logger.error({ err: error }, 'PostgreSQL unreachable during send');
      throw new ServiceUnavailableError('PostgreSQL');
    }
    throw error;
  }

  /**
   * One send. Concurrent sends of a tenant are written together (group commit): one transaction and one enqueue for
   * all of them, each answered with its own notification or its own error.
   */
  send(caller: Caller, input: SendNotificationCommand): Promise<Notification> {
    return this.concurrentSends.submit(caller.tenantId, { caller, input });
  }

  private readonly concurrentSends = new GroupCommit<
    { caller: Caller; input: SendNotificationCommand },
    Notification
  >(async (_tenant, items) => this.sendGroup(items), { maxBatch: MAX_BATCH, inFlight: 2 });

  private async sendGroup(items: { caller: Caller; input: SendNotificationCommand }[]) {
    if (items.length === 1) return [await settle(this.sendAlone(items[0].caller, items[0].input))];
    try {
      const { results } = await this.acceptAll(
        items[0].caller,
        items.map((i) => i.input),
      );
      return results.map((r): Settled<Notification> =>
        r.notification ? { ok: true, value: r.notification } : { ok: false, error: r.error },
      );
    } catch (error) {
      // An unreachable dependency fails every send alike; anything else the group hit, each send answers for itself.
      if (error instanceof ServiceUnavailableError) throw error;
      this.deps.logger.warn({ err: error, sends: items.length }, 'send group failed; one by one');
      return Promise.all(items.map((i) => settle(this.sendAlone(i.caller, i.input))));
    }
  }

  /** One send in its own transaction. */
  private async sendAlone(caller: Caller, input: SendNotificationCommand): Promise<Notification> {
    const { results } = await this.acceptAll(caller, [input]);
    const [result] = results;
    if (result?.error) throw result.error;
    return result.notification!;
  }

  /**
   * Up to MAX_BATCH sends creating up to INPUT_LIMITS.messagesPerBatch messages in all (a send that would pass it is
   * refused as BAD_USER_INPUT naming `inputs[i]`, the earlier ones go on): each validated on its own (a bad one is returned as data with its index, the others go
   * on), the valid ones written in one transaction with multi-row inserts and enqueued in bulk.
   */
  async sendMany(caller: Caller, inputs: SendNotificationCommand[]): Promise<BatchOutcome> {
    if (inputs.length > MAX_BATCH) {
      throw new BadUserInputError(`inputs: at most ${MAX_BATCH} per call (got ${inputs.length})`, 'inputs');
    }
    const { results, staged } = await this.acceptAll(caller, inputs, INPUT_LIMITS.messagesPerBatch.max);
    const accepted = results.filter((r) => r.notification).length;
    const estimatedCost = sumUsd(staged.flatMap((s) => s.messages.map((m) => m.cost ?? 0)));
    return {
      results: results.map(({ index, notification, error }) =>
        error
          ? {
              index,
              error: {
                code: typeof error.extensions.code === 'string' ? error.extensions.code : 'BAD_USER_INPUT',
                message: error.message,
              },
            }
          : { index, notification },
      ),
      summary: { total: inputs.length, accepted, failed: inputs.length - accepted, estimatedCost },
    };
  }

  /**
   * Validates and plans every send on its own (an invalid one gets its error, the others go on), then writes the
   * valid ones in one transaction and enqueues them in bulk. A unique violation (a concurrent idempotency key) is
   * thrown for the caller to resolve; an unreachable PostgreSQL or Redis is SERVICE_UNAVAILABLE.
   */
  private async acceptAll(
    caller: Caller,
    inputs: SendNotificationCommand[],
    messageCap = Infinity,
  ): Promise<{ results: Accepted[]; staged: Staged[] }> {
    // COMMIT: a query in the middle must not flush what is staged so far (auto-flush would split the batch into
    // several transactions).
    const em = this.deps.orm.em.fork({ flushMode: FlushMode.COMMIT }) as EntityManager;
    const results: Accepted[] = [];
    const staged: Staged[] = [];
    const keys = new Map<string, { hash: string | null; notification: Notification }>();
    let messages = 0;
    try {
      // Redis carries the jobs: refuse before storing anything when it cannot.
      if (!(await this.deps.redisReachable())) throw new ServiceUnavailableError('Redis');
      const budgets = await this.deps.budgets.budgets(em, caller.tenantId);
      const before = await this.deps.budgets.spend(em, caller.tenantId, budgets);
      let spend = before;
      // What the policy needs about every user of the batch, read once per kind instead of once per send.
      // Checked before the shared reads, so one send's unstorable string cannot fail the whole group's queries.
      const refused = new Map<number, GraphQLError>();
      // A batch is up to 1,000 sends and 10,000 messages: other requests get a turn between slices of this work.
      const pace = new EventLoopPace();
      for (const [index, input] of inputs.entries()) {
        try {
          this.checkEdge(input);
        } catch (error) {
          refused.set(index, this.itemError(error, input));
        }
        await pace.turn();
      }
      const admitted = inputs.filter((_, index) => !refused.has(index));
      const facts = await PolicyFacts.load(
        em,
        caller.tenantId,
        admitted.map((input) => ({ userId: input.userId, to: input.to })),
      );
      const reads: BatchReads = {
        types: new Map(),
        facts,
        keyed: await this.alreadyKeyed(em, caller.tenantId, admitted),
        windows: await this.serviceWindows(em, caller.tenantId, admitted, facts),
      };
      for (const [index, input] of inputs.entries()) {
        await pace.turn();
        const edge = refused.get(index);
        if (edge) {
          results.push({ index, error: edge });
          continue;
        }
        try {
          const prepared = await this.prepare(em, caller, input, reads);
          if ('existing' in prepared) {
            results.push({ index, notification: prepared.existing });
            continue;
          }
          const { idempotencyKey, inputHash } = prepared.plan;
          const earlier = idempotencyKey ? keys.get(idempotencyKey) : undefined;
          if (earlier) {
            results.push({
              index,
              notification: replay(earlier.notification, idempotencyKey!, inputHash ?? null),
            });
            continue;
          }
          const planned = prepared.plan.planned.length;
          if (messages + planned > messageCap) {
            throw new BadUserInputError(
              `inputs[${index}]: the batch would exceed ${messageCap} messages in total (INPUT_LIMITS.messagesPerBatch); send the rest in another call`,
              `inputs[${index}]`,
            );
          }
          messages += planned;
          const cost = planCost(prepared.plan, this.deps.config.prices);
          this.deps.budgets.assertWithin(budgets, spend, cost, prepared.plan.priority === Priority.CRITICAL);
          spend = addSpend(spend, cost);
          const item = this.stage(caller, prepared.plan);
          if (idempotencyKey)
            keys.set(idempotencyKey, { hash: inputHash ?? null, notification: item.notification });
          staged.push(item);
          results.push({ index, notification: item.notification });
        } catch (error) {
          if (isConnectionError(error)) throw error;
          results.push({ index, error: this.itemError(error, input) });
        }
      }
      if (staged.length > 0) {
        const { committed, held } = await this.commitOrAlone(em, caller, staged, results, budgets);
        // The spend read under the lock when there is one; a budget-less tenant has no alerts to cross anyway.
        this.deps.budgets.alertCrossings(
          caller.tenantId,
          budgets,
          held?.before ?? before,
          held?.after ?? spend,
        );
        return { results, staged: committed };
      }
      return { results, staged };
    } catch (error) {
      return this.unavailable(error);
    }
  }

  /** A send's own error as GraphQL: input errors as they are, anything else logged and masked. */
  private itemError(error: unknown, input: { userId: string; type: string }): GraphQLError {
    if (error instanceof GraphQLError) return error;
    this.deps.logger.error({ err: error, userId: input.userId, type: input.type }, 'send not stored');
    return new ItemNotStoredError();
  }

  /**
   * Commits the staged sends together; should that fail for any reason but an unreachable dependency (a row the
   * database refuses, a concurrent idempotency key, a deadlock), commits each on its own so only the send at fault
   * fails: its result becomes its error (a concurrent duplicate of its idempotency key answers with the winner's
   * notification; one that no longer fits the budget gets BUDGET_EXCEEDED). Returns what was committed, and the spend
   * before and after it as read under the budget lock (none without a budget).
   */
  private async commitOrAlone(
    em: EntityManager,
    caller: Caller,
    staged: Staged[],
    results: Accepted[],
    budgets: Budgets,
  ): Promise<{ committed: Staged[]; held?: { before: Spend; after: Spend } }> {
    try {
      return { committed: staged, held: await this.commit(em, caller, staged, budgets) };
    } catch (error) {
      if (error instanceof ServiceUnavailableError || isConnectionError(error)) throw error;
      if (staged.length > 1 && !(error instanceof BudgetExceededError)) {
        this.deps.logger.warn({ err: error, sends: staged.length }, 'accept group failed; one by one');
      }
      const committed: Staged[] = [];
      let held: { before: Spend; after: Spend } | undefined;
      for (const item of staged) {
        const outcome =
          staged.length === 1
            ? { ok: false as const, error }
            : await settle(this.commit(em, caller, [item], budgets));
        if (outcome.ok) {
          committed.push(item);
          if (outcome.value)
            held = { before: held?.before ?? outcome.value.before, after: outcome.value.after };
          continue;
        }
        // Every result that holds this staged notification: its own send and the group's duplicates of its
        // idempotency key, which replayed it before the commit (all of them must answer with the winner).
        const holders = results.filter((r) => r.notification === item.notification);
        try {
          const winner = await this.resolveFailed(caller, item, outcome.error);
          for (const result of holders) result.notification = winner;
        } catch (failure) {
          const itemError = this.itemError(failure, item.notification);
          for (const result of holders) {
            result.notification = undefined;
            result.error = itemError;
          }
        }
      }
      return { committed, held };
    }
  }

  /** A staged send whose commit failed: the winner of its idempotency key, or the error (unreachable → 503). */
  private async resolveFailed(caller: Caller, item: Staged, error: unknown): Promise<Notification> {
    if (isConnectionError(error)) throw new ServiceUnavailableError('PostgreSQL');
    const key = item.notification.idempotencyKey;
    if (error instanceof UniqueConstraintViolationException && key) {
      const existing = await this.deps.orm.em
        .fork()
        .findOne(Notification, { tenantId: caller.tenantId, idempotencyKey: key });
      if (existing) return replay(existing, key, item.notification.inputHash ?? null);
    }
    throw error;
  }

  /**
   * Cancels every message not yet handed to a provider (QUEUED, SCHEDULED). A message being sent (SENDING) or sent
   * cannot be called back: the rest are cancelled and NOT_CANCELLABLE names those. A job still in Redis for a cancelled
   * message finds it CANCELLED and sends nothing.
   */
  async cancel(caller: Caller, id: string): Promise<Notification> {
    const em = this.deps.orm.em.fork() as EntityManager;
    const changes: StatusChange[] = [];
    const { notification, handed } = await em.transactional(async (tx) => {
      const found = isUuid(id)
        ? await tx.findOne(
            Notification,
            { id, tenantId: caller.tenantId },
            { lockMode: LockMode.PESSIMISTIC_WRITE },
          )
        : null;
      if (!found) throw new NotFoundError(`id: no notification ${quote(id)}`);
      const messages = await tx.find(
        Message,
        { tenantId: caller.tenantId, notificationId: found.id },
        { lockMode: LockMode.PESSIMISTIC_WRITE, orderBy: { createdAt: 'asc', id: 'asc' } },
      );
      const now = this.deps.clock.now();
      const before = {
        status: found.status,
        messages: messages.map((m) => ({ id: m.id, channel: m.channel, status: m.status })),
      };
      for (const message of messages) {
        if (message.status !== MessageStatus.QUEUED && message.status !== MessageStatus.SCHEDULED) continue;
        message.dueAt = null;
        changes.push(
          applyStatus(tx, message, MessageStatus.CANCELLED, now, {
            errorCode: 'cancelled',
            errorMessage: 'cancelled by the sender',
          }),
        );
      }
      found.status = rollup(messages);
      found.updatedAt = now;
      // Only a cancellation that cancelled something is a change (a repeat, or one with every message already
      // handed to a provider, changes nothing).
      if (changes.length > 0) {
        await recordAudit(tx, {
          tenantId: caller.tenantId,
          ...auditSourceOf(caller),
          entity: 'notification',
          entityId: found.id,
          action: 'cancel',
          before,
          after: {
            status: found.status,
            messages: messages.map((m) => ({ id: m.id, channel: m.channel, status: m.status })),
          },
          at: now,
        });
      }
      const handedIds = messages
        .filter((m) => m.status === MessageStatus.SENDING || SENT_STATUSES.has(m.status))
        .map((m) => m.id);
      return { notification: found, handed: handedIds };
    });
    changes.forEach((change) => this.deps.pubsub.publish(change));
    if (handed.length > 0) {
      throw new NotCancellableError(
        `id: ${handed.length} message(s) were already handed to a provider and cannot be cancelled (${handed.join(', ')}); the rest are cancelled`,
        handed,
      );
    }
    return notification;
  }

  /**
   * For a message Herald itself sends on WhatsApp (a consent code): refuses before anything is stored when the type's
   * WHATSAPP template is free-form and `number` has not written within 24 hours.
   * @throws OutsideServiceWindowError naming `field`
   */
  async assertWhatsappWindow(
    target: { tenantId: string; userId: string; typeKey: string; number: string },
    field: string,
  ): Promise<void> {
    const { tenantId, userId, typeKey, number } = target;
    const em = this.deps.orm.em.fork() as EntityManager;
    const type = await em.findOne(NotificationType, { tenantId, key: typeKey });
    // The user's locale picks the template at send, so it picks it here too.
    const locale = type ? (await em.findOne(ContactInfo, { tenantId, userId }))?.locale : null;
    if (isWhatsappTemplateSend(type, null, locale)) return;
    const now = this.deps.clock.now();
    const last = await this.windowsOf(tenantId).lastInbound(em, number);
    if (insideWindow(last, now)) return;
    throw outsideWindowError(field, number, last, now);
  }

  /**
   * The last WhatsApp reply of every number the batch may send to on WhatsApp (named in `to.whatsapp` or stored),
   * read in one query; numbers found later (fallbacks, invalid input) are read when needed.
   */
  private async serviceWindows(
    em: EntityManager,
    tenantId: string,
    inputs: SendNotificationCommand[],
    facts: PolicyFacts,
  ): Promise<ServiceWindows> {
    const windows = this.windowsOf(tenantId);
    const numbers = inputs
      .filter((i) => !i.channels?.length || i.channels.includes(Channel.WHATSAPP))
      .map((i) => {
        if (!i.to?.whatsapp) return facts.contact(i.userId)?.value?.whatsapp;
        try {
          return normalizePhone(i.to.whatsapp, 'to.whatsapp');
        } catch {
          return undefined; // refused on its own in prepare
        }
      })
      .filter((n): n is string => typeof n === 'string' && n !== '');
    await windows.load(em, numbers);
    return windows;
  }

  /** The notifications already made under the batch's idempotency keys, read in one query. */
  private async alreadyKeyed(
    em: EntityManager,
    tenantId: string,
    inputs: SendNotificationCommand[],
  ): Promise<Map<string, Notification>> {
    const keys = [
      ...new Set(inputs.map((i) => i.idempotencyKey?.trim()).filter((k): k is string => Boolean(k))),
    ];
    if (keys.length === 0) return new Map();
    const found = await em.find(Notification, { tenantId, idempotencyKey: { $in: keys } });
    return new Map(found.map((n) => [n.idempotencyKey!, n]));
  }

  /** Creates the notification, its messages and their first events (written in bulk by commit). */
  private stage(caller: Caller, plan: Plan): Staged {
    const now = this.deps.clock.now();
    const due = plan.scheduledAt && plan.scheduledAt > now ? plan.scheduledAt : null;
    const { planned, category, ...fields } = plan;
    const notification = Object.assign(new Notification(), {
      ...fields,
      tenantId: caller.tenantId,
      status: NotificationStatus.PROCESSING,
      createdAt: now,
      updatedAt: now,
    });
    const changes: StatusChange[] = [];
    const events: DeliveryEvent[] = [];
    const messages = planned.map((p) => {
      // Counted against the tenant's budget while it waits; replaced by the rendered estimate once sent. The SMS
      // segments it was counted from are stored with it (explicit content's body, else one segment for a template
      // not rendered yet), so Message.segments and Message.cost agree from accept on.
      const estimate = p.suppressedReason
        ? null
        : estimateCost(this.deps.config.prices, p.channel, p.to, plan.content ?? {});
      const message = Object.assign(new Message(), {
        tenantId: caller.tenantId,
        notificationId: notification.id,
        userId: plan.userId,
        channel: p.channel,
        priority: plan.priority,
        to: p.to,
        typeKey: plan.type,
        category,
        cost: estimate?.cost ?? null,
        segments: estimate?.segments ?? null,
        status: MessageStatus.QUEUED,
        attempt: 0,
        fallbackUsed: p.fallbackUsed ?? false,
        dueAt: due ?? p.deferredUntil ?? null,
        createdAt: now,
        updatedAt: now,
      });
      const status = p.suppressedReason
        ? MessageStatus.SUPPRESSED
        : message.dueAt
          ? MessageStatus.SCHEDULED
          : MessageStatus.QUEUED;
      const details = p.suppressedReason
        ? { errorCode: p.suppressedReason, errorMessage: p.suppressedMessage ?? p.suppressedReason }
        : p.deferredReason
          ? { errorCode: p.deferredReason, errorMessage: p.deferredMessage ?? p.deferredReason }
          : {};
      const { event, change } = transition(message, status, now, { ...details, initial: true });
      events.push(event);
      changes.push(change);
      return message;
    });
    notification.status = rollup(messages);
    return { notification, messages, events, changes };
  }
}
