import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/core';
import {
  BlockKind,
  Channel,
  ConsentStatus,
  DeliveryEvent,
  InboundMessage,
  Message,
  MessageStatus,
  ContactInfo,
  SERVICE_WIDE,
} from '../entities';
import { webhookActor } from '../domain/audit-actors';
import { normalizeReply } from '../domain/reply-keywords';
import type { InboundReply, ProviderStatusEvent } from '../providers/webhook.types';
import { addBlock, removeBlock } from './address-block';
import { recordConsent } from './consent-ledger';
import type { ServiceDeps } from './deps';
import type { ProviderPriceService } from './provider-price.service';
import { blockIdentity, type WebhookScope } from './webhook-scope';
import {
  applyStatus,
  changesRollup,
  movesForward,
  refreshNotifications,
  TIMESTAMP_OF,
  type StatusChange,
} from './message-status';

/** Messages Herald has not yet recorded as handed to the provider: their provider events wait. */
const NOT_YET_SENT = new Set([MessageStatus.QUEUED, MessageStatus.SCHEDULED, MessageStatus.SENDING]);

const UUID = /^[0-9a-f-]{36}$/i;

export type EventOutcome =
  | { kind: 'applied'; message: Message; changes: StatusChange[] }
  | { kind: 'pending'; reason: string }
  /** The message was sent through another account than the event came through: recorded, nothing changed. */
  | { kind: 'foreign'; reason: string };

/**
 * Why an event may not touch a message (issue 13: a webhook touches only messages sent through the config it names,
 * and the service-wide routes none sent through a tenant's config), or undefined when it may. A message not yet
 * recorded as sent has no config recorded either: its own tenant's config may report it (and reconcile records it).
 */
function foreignReason(message: Message, scope: WebhookScope): string | undefined {
  const sentThrough = message.channelConfigId ?? null;
  const cameThrough = scope?.configId ?? null;
  if (sentThrough === cameThrough) return undefined;
  if (NOT_YET_SENT.has(message.status) && sentThrough === null && scope?.tenantId === message.tenantId)
    return undefined;
  return cameThrough
    ? `message was not sent through channel config ${cameThrough}; recorded only`
    : 'message was sent through a tenant channel config, not the service-wide account; recorded only';
}

/**
 * Applies what providers report to the delivery record: a one-way status machine after SENT, every event kept in the
 * message's history with its effects (timestamps, suppressions, opt-outs) even when it changes no status.
 */
export class DeliveryStatusService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly prices: ProviderPriceService,
  ) {}

  private async findMessage(tx: EntityManager, event: ProviderStatusEvent): Promise<Message | null> {
    const lock = { lockMode: LockMode.PESSIMISTIC_WRITE } as const;
    if (event.heraldMessageId && UUID.test(event.heraldMessageId)) {
      const byId = await tx.findOne(Message, { id: event.heraldMessageId }, lock);
      if (byId) return byId;
    }
    if (!event.providerMessageId) return null;
    const providers = event.provider === 'twilio' ? ['twilio-sms', 'twilio-whatsapp'] : ['sendgrid'];
    return tx.findOne(
      Message,
      { providerMessageId: event.providerMessageId, provider: { $in: providers } },
      lock,
    );
  }

  /**
   * The provider reports a message Herald never recorded as sent: the worker that sent it stopped (crash, lost
   * lease) or timed out after the provider had accepted it. The report proves the hand-over, so the message is
   * recorded SENT instead of being sent again. A message still held by a live sender (its lease running) is left to
   * that sender; the event waits.
   */
  private reconcile(
    tx: EntityManager,
    message: Message,
    event: ProviderStatusEvent,
    at: Date,
    scope: WebhookScope,
  ): StatusChange | undefined {
    const leaseRunning =
      message.status === MessageStatus.SENDING && (message.leaseUntil?.getTime() ?? 0) > at.getTime();
    if (
      leaseRunning ||
      message.attempt < 1 ||
      event.status === null ||
      event.heraldMessageId !== message.id ||
      !event.providerMessageId
    ) {
      return undefined;
    }
    message.provider =
      event.provider === 'sendgrid'
        ? 'sendgrid'
        : message.channel === Channel.WHATSAPP
          ? 'twilio-whatsapp'
          : 'twilio-sms';
    message.providerMessageId = event.providerMessageId;
    // The config whose signed webhook proved the hand-over is the one that sent it.
    if (scope) message.channelConfigId = scope.configId;
    message.leaseUntil = null;
    message.dueAt = null;
    return applyStatus(tx, message, MessageStatus.SENT, at, {
      errorCode: null,
      // The history says why: SENT without a send of its own, from the provider's report.
      eventType: 'reconciled',
    });
  }

  /** Inside the caller's transaction. 'pending' leaves the event for a later pass (message unknown or not yet SENT). */
  async applyStatusEvent(
    tx: EntityManager,
    event: ProviderStatusEvent,
    scope: WebhookScope = null,
  ): Promise<EventOutcome> {
    const [outcome] = await this.applyStatusEvents(tx, [event], [scope]);
    return outcome;
  }

  /**
   * Many events in the caller's transaction, in order: the messages they name are locked (in id order) and read in
   * one query, and the notifications' roll-ups refreshed once at the end. Two events of one message apply in turn.
   * `scopes[i]` is the account event i came through (null or absent: service-wide).
   */
  async applyStatusEvents(
    tx: EntityManager,
    events: ProviderStatusEvent[],
    scopes: WebhookScope[] = [],
  ): Promise<EventOutcome[]> {
    const byId = await this.lockNamedMessages(tx, events);
    const outcomes: EventOutcome[] = [];
    for (const [i, event] of events.entries()) {
      const message =
        (event.heraldMessageId ? byId.get(event.heraldMessageId) : undefined) ??
        (await this.findMessage(tx, event));
      outcomes.push(await this.applyToMessage(tx, event, message, scopes[i] ?? null));
    }
    const changed = outcomes.flatMap((o) =>
      o.kind === 'applied' && o.changes.some(changesRollup) ? [o.message] : [],
    );
    await refreshNotifications(tx, changed, this.deps.clock.now());
    return outcomes;
  }

  /** The messages events name by Herald id (their callbacks carry it), locked for this transaction. */
  private async lockNamedMessages(tx: EntityManager, events: ProviderStatusEvent[]) {
    const ids = [
      ...new Set(events.map((e) => e.heraldMessageId).filter((id): id is string => !!id && UUID.test(id))),
    ];
    if (ids.length === 0) return new Map<string, Message>();
    const found = await tx.find(
      Message,
      { id: { $in: ids } },
      { lockMode: LockMode.PESSIMISTIC_WRITE, orderBy: { id: 'asc' } },
    );
    return new Map(found.map((m) => [m.id, m]));
  }

  private async applyToMessage(
    tx: EntityManager,
    event: ProviderStatusEvent,
    message: Message | null,
    scope: WebhookScope,
  ): Promise<EventOutcome> {
    if (!message) return { kind: 'pending', reason: 'no message matches this event yet' };
    const foreign = foreignReason(message, scope);
    if (foreign) return { kind: 'foreign', reason: foreign };
    const recordedAt = this.deps.clock.now();
    const changes: StatusChange[] = [];
    if (NOT_YET_SENT.has(message.status)) {
      const reconciled = this.reconcile(tx, message, event, recordedAt, scope);
      if (!reconciled) return { kind: 'pending', reason: `message is ${message.status}; waiting for SENT` };
      changes.push(reconciled);
    }

    const details = {
      source: event.provider,
      raw: event.raw,
      providerEventId: event.eventKey,
      eventType: event.eventType,
      recordedAt,
    };
    const reported = event.status ? (event.status as MessageStatus) : null;
    if (reported && movesForward(message.status, reported)) {
      const failure = event.errorCode
        ? { errorCode: event.errorCode, errorMessage: event.errorMessage ?? null }
        : {};
      changes.push(applyStatus(tx, message, reported, event.occurredAt, { ...details, ...failure }));
      this.prices.markForPriceCheck(message, recordedAt);
    } else {
      // Kept in the history with its effects, without moving the status back or sideways.
      if (reported) {
        const column = TIMESTAMP_OF[reported] as string;
        const record = message as unknown as Record<string, Date | null | undefined>;
        if (!record[column]) record[column] = event.occurredAt;
      }
      tx.persist(
        tx.create(DeliveryEvent, {
          tenantId: message.tenantId,
          messageId: message.id,
          status: reported ?? message.status,
          previousStatus: null,
          occurredAt: event.occurredAt,
          source: event.provider,
          provider: message.provider ?? null,
          attempt: message.attempt,
          providerEventId: event.eventKey,
          eventType: event.eventType,
          errorCode: event.errorCode ?? null,
          errorMessage: event.errorMessage ?? null,
          raw: event.raw,
          recordedAt,
        }),
      );
    }
    // The message's own address: the body's `email`/`To` is the provider's say-so and may name anyone. An event that
    // names no message Herald knows stays pending above and blocks nothing.
    const address = message.to;
    // Blocks follow the sending identity (CONTRACT.md, issue 13): what the person said to a tenant's own account (an
    // unsubscribe, a spam complaint, a STOP that Twilio reports as 21610) binds that tenant only; through the
    // service-wide accounts, every tenant. A hard bounce (the address does not exist) reported by the service-wide
    // accounts is shared; one reported through a tenant's own config binds that tenant only, like everything that
    // config reports: its signature proves only that the tenant sent it (the tenant holds its Twilio auth token and
    // chose its SendGrid webhook key), so trusting it for everyone let one tenant's admin block any address for every
    // tenant with a forged bounce (break-it round on issue 13).
    if (event.suppress) {
      await addBlock(tx, {
        identity: blockIdentity(scope),
        channel: message.channel,
        address,
        kind: BlockKind.SUPPRESSION,
        reason: event.suppress,
        source: event.eventKey,
        at: recordedAt,
      });
    }
    if (event.optOut) {
      // The same consent ledger as revokeConsent: a global unsubscribe or 21610 covers the channel, a group
      // unsubscribe the message's type.
      await recordConsent(tx, {
        tenantId: message.tenantId,
        userId: message.userId,
        channel: message.channel,
        typeKey: event.optOut === 'group_unsubscribe' ? message.typeKey : null,
        action: 'REVOKE',
        status: ConsentStatus.REVOKED,
        source: event.provider,
        reason: event.optOut,
        address,
        at: recordedAt,
        // The vendor's signed webhook made this change; its event key ties the row to the stored raw event.
        audit: { actor: webhookActor(event.provider), requestId: event.eventKey },
      });
      await addBlock(tx, {
        identity: blockIdentity(scope),
        channel: message.channel,
        address,
        kind: BlockKind.OPT_OUT,
        reason: event.optOut,
        source: event.eventKey,
        at: recordedAt,
      });
    }
    return { kind: 'applied', message, changes };
  }

  /**
   * STOP opts the number out of that channel, START opts it back in (keywords by src/domain/reply-keywords.ts);
   * every reply is kept for the inbox, and one that only mentions an opt-out word is stored with `possibleOptOut`
   * (consent untouched) for a person to act on.
   *
   * Through a tenant's own config (`scope`) the reply belongs to that tenant: its block, its contacts' consent and
   * the stored reply are that tenant's alone. Through the service-wide number, STOP and START apply to every tenant
   * sharing it (the vendor blocks the shared sender for all of them).
   */
  async applyInbound(tx: EntityManager, reply: InboundReply, scope: WebhookScope = null): Promise<void> {
    const channel = reply.channel === 'WHATSAPP' ? Channel.WHATSAPP : Channel.SMS;
    const at = this.deps.clock.now();
    const identity = blockIdentity(scope);
    if (reply.keyword === 'STOP') {
      await addBlock(tx, {
        identity,
        channel,
        address: reply.from,
        kind: BlockKind.OPT_OUT,
        reason: 'STOP',
        source: reply.eventKey,
        at,
      });
    } else if (reply.keyword === 'START') {
      await removeBlock(tx, channel, reply.from, BlockKind.OPT_OUT, identity);
    }
    const byNumber =
      channel === Channel.WHATSAPP
        ? { $or: [{ whatsapp: reply.from }, { phone: reply.from }] }
        : { phone: reply.from };
    const contacts = await tx.find(
      ContactInfo,
      scope ? { $and: [{ tenantId: scope.tenantId }, byNumber] } : byNumber,
    );
    if (reply.keyword === 'STOP' || reply.keyword === 'START') {
      for (const contact of contacts) {
        await recordConsent(tx, {
          tenantId: contact.tenantId,
          userId: contact.userId,
          channel,
          action: reply.keyword === 'STOP' ? 'REVOKE' : 'GRANT',
          status: reply.keyword === 'STOP' ? ConsentStatus.REVOKED : ConsentStatus.GRANTED,
          source: 'keyword',
          // The reply as the rule read it ("OPT OUT", "STOP TEXTING ME"): at most four words or a keyword.
          reason: normalizeReply(reply.body).toUpperCase(),
          address: reply.from,
          at,
          // The recipient's reply, through the vendor's signed webhook: one audit row per tenant's user it touches.
          audit: { actor: webhookActor(reply.provider), requestId: reply.eventKey },
        });
      }
    }
    const owners =
      contacts.length > 0
        ? contacts.map((c) => ({ tenantId: c.tenantId, userId: c.userId }))
        : [{ tenantId: scope?.tenantId ?? SERVICE_WIDE, userId: null }];
    for (const owner of owners) {
      tx.persist(
        tx.create(InboundMessage, {
          ...owner,
          direction: 'IN',
          channel,
          from: reply.from,
          to: reply.to,
          body: reply.body,
          media: reply.media,
          keyword: reply.keyword,
          possibleOptOut: reply.possibleOptOut,
          providerMessageId: reply.providerMessageId,
          channelConfigId: scope?.configId ?? null,
          receivedAt: at,
        }),
      );
    }
  }
}
