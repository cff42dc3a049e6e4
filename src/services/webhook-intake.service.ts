import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import { GroupCommit, settle, type Settled } from '../persistence/group-commit';
import { sanitizeJson, toStorable } from './input-guard';
import { INPUT_LIMITS } from './input-limits';
import { runRaw } from '../persistence/raw';
import {
  parseSendgridEvent,
  parseSendgridEvents,
  sendgridVerifier,
  type SendgridEvent,
  type SendgridVerifier,
} from '../providers/sendgrid.webhook';
import {
  parseTwilioInbound,
  parseTwilioStatus,
  twilioVerifier,
  twimlReply,
  type TwilioForm,
  type TwilioVerifier,
} from '../providers/twilio.webhook';
import {
  MAX_EVENT_KEY_BYTES,
  type InboundReply,
  type ProviderStatusEvent,
  type RawWebhookRequest,
} from '../providers/webhook.types';
import { WebhookUnknowns } from './webhook-unknowns';
import { WebhookFormatError, WebhookSignatureError } from '../providers/webhook.types';
import type { ChannelConfigService } from './channel-config.service';
import type { DeliveryStatusService } from './delivery-status.service';
import type { ServiceDeps } from './deps';
import type { StatusChange } from './message-status';
import {
  ConfigWebhookVerifiers,
  WebhookConfigNotFoundError,
  WebhookConfigUnreadableError,
  type WebhookScope,
} from './webhook-scope';

export {
  WebhookConfigNotFoundError,
  WebhookConfigUnreadableError,
  WebhookFormatError,
  WebhookSignatureError,
};

type Kind = 'status' | 'inbound' | 'event';

/** A verified webhook event, ready to store. */
interface Incoming {
  provider: string;
  kind: Kind;
  eventKey: string;
  payload: StoredPayload;
}

/** A stored event as the apply step reads it. */
interface StoredRow {
  id: string;
  kind: Kind;
  payload: StoredPayload;
  received_at: Date | string;
}

/** A row the insert made, with its key. */
type InsertedRow = StoredRow & { provider: string; event_key: string };

/** What applying an event leaves on its row: done (processed_at) or why it waits (last_error). */
interface EventResult {
  id: string;
  processed_at?: Date;
  last_error?: string;
  tenant_id?: string;
  message_id?: string;
}

interface StoredPayload {
  params?: TwilioForm;
  url?: string;
  event?: SendgridEvent;
  /** The tenant channel config the event came through (its own path and secret); absent = service-wide. */
  scope?: NonNullable<WebhookScope>;
}

/**
 * The provider_event.provider an event is stored under: the vendor for the service-wide accounts, `<vendor>:<configId>`
 * for a tenant's config. Event keys are unique per provider, so a tenant who signs events for its own config (it
 * holds that secret) cannot take the key of another account's event and have the real one dropped as a redelivery.
 */
const storedProvider = (vendor: 'twilio' | 'sendgrid', scope: WebhookScope) =>
  scope ? `${vendor}:${scope.configId}` : vendor;

const refuse = (reason: string) => (): never => {
  throw new WebhookSignatureError(reason);
};

/**
 * The ids of a vendor event that go into btree indexes (message.provider_message_id on reconciliation, the message a
 * Twilio callback names with `hm`, address blocks from an inbound STOP) must be at most INPUT_LIMITS.webhookIdBytes
 * (MAX_EVENT_ID_BYTES, 256): a longer one is no vendor's (Twilio SIDs are 34 characters) and PostgreSQL would refuse
 * it with a 500, which vendors retry forever. The event key, which the parsers build from a checked id plus a short
 * suffix, is held to MAX_EVENT_KEY_BYTES. Throws WebhookFormatError (400) naming the field.
 */
function assertIndexable(
  event: { eventKey: string; providerMessageId?: string; heraldMessageId?: string },
  addresses: Record<string, string> = {},
): void {
  const max = INPUT_LIMITS.webhookIdBytes.max;
  const ids: Record<string, string | undefined> = {
    providerMessageId: event.providerMessageId,
    heraldMessageId: event.heraldMessageId,
    ...addresses,
  };
  for (const [field, value] of Object.entries(ids)) {
    if (value !== undefined && Buffer.byteLength(value) > max) {
      throw new WebhookFormatError(`${field}: longer than ${max} bytes, which no vendor id is`);
    }
  }
  if (Buffer.byteLength(event.eventKey) > MAX_EVENT_KEY_BYTES) {
    throw new WebhookFormatError(`eventKey: longer than ${MAX_EVENT_KEY_BYTES} bytes`);
  }
}

/**
 * Which of `events` the insert stored (true) rather than found stored before (false): a row made for a key marks the
 * first event with that key, so two copies of one event in a group count once.
 */
function freshness(events: Incoming[], rows: InsertedRow[]): boolean[] {
  const made = new Set(rows.map((r) => `${r.provider}|${r.event_key}`));
  return events.map((e) => made.delete(`${e.provider}|${e.eventKey}`));
}

/** Unprocessed events older than this are left alone (and visible to operators) rather than retried forever. */
const GIVE_UP_AFTER_MS = 24 * 3600_000;

/**
 * Provider webhooks in: verify the signature on the raw bytes, parse, store the raw event under its unique key
 * (a redelivery is a no-op), then apply it. The HTTP answer comes after the store; applying may wait (message not
 * yet SENT) and the scheduler retries what is still unprocessed, so nothing accepted is lost to a crash.
 */
export class WebhookIntakeService {
  private readonly verifySendgrid: SendgridVerifier;
  private readonly verifyTwilio: TwilioVerifier;
  /** Unknown vendor parts: herald_webhook_unknown_events_total (the server registers `unknowns.counter`). */
  readonly unknowns: WebhookUnknowns;
  /** Tenants' channel configs: each verified with its own secret (webhook-scope.ts). */
  private readonly configVerifiers: ConfigWebhookVerifiers;

  constructor(
    private readonly deps: ServiceDeps,
    private readonly status: DeliveryStatusService,
    configs: ChannelConfigService,
  ) {
    this.configVerifiers = new ConfigWebhookVerifiers(
      configs,
      deps.config.webhooks.sendgridWindow,
      deps.logger,
    );
    // Only from config.webhooks, which in production holds configured secrets alone (src/config/webhook-credentials.ts).
    // A vendor without credentials has no routes; should a request reach here anyway, nothing verifies it.
    this.unknowns = new WebhookUnknowns(deps.logger);
    const { twilio, sendgrid } = deps.config.webhooks;
    this.verifyTwilio = twilio
      ? twilioVerifier(twilio.authToken)
      : refuse('Twilio webhooks are not configured');
    this.verifySendgrid = sendgrid
      ? sendgridVerifier(sendgrid)
      : refuse('SendGrid webhooks are not configured (SENDGRID_WEBHOOK_PUBLIC_KEY)');
  }

  private em() {
    return this.deps.orm.em.fork() as EntityManager;
  }

  /**
   * Inserts the events in one statement, skipping any whose (provider, eventKey) exists (a redelivery is a no-op);
   * returns the rows it made, in the order the events came.
   */
  private async insertEvents(em: EntityManager, events: Incoming[]): Promise<InsertedRow[]> {
    const rows = await runRaw<InsertedRow>(
      em,
      `insert into provider_event (id, tenant_id, provider, kind, event_key, payload, received_at, attempts)
       select id, '*', provider, kind, event_key, payload, ?, 0
         from json_to_recordset(?::json) as e(id uuid, provider text, kind text, event_key text, payload jsonb)
       on conflict (provider, event_key) do nothing
       returning id, provider, kind, event_key, payload, received_at`,
      [
        this.deps.clock.now(),
        JSON.stringify(
          events.map((e) => ({
            id: randomUUID(),
            provider: e.provider,
            kind: e.kind,
            event_key: e.eventKey,
            payload: e.payload,
          })),
        ),
      ],
    );
    const arrival = new Map(events.map((e, i) => [`${e.provider}|${e.eventKey}`, i]));
    return rows.sort(
      (a, b) => arrival.get(`${a.provider}|${a.event_key}`)! - arrival.get(`${b.provider}|${b.event_key}`)!,
    );
  }

  /** Stores the events on their own (autocommit); returns the rows it made. */
  private async store(events: Incoming[]): Promise<InsertedRow[]> {
    return this.insertEvents(this.em(), events);
  }

  /**
   * Stores and applies a group in one transaction: one commit, and the new rows are this transaction's until then
   * (nobody else can apply them). Should applying fail, storing is undone with it and the caller stores on its own.
   */
  private async storeAndApply(events: Incoming[]): Promise<boolean[]> {
    let changes: StatusChange[] = [];
    let fresh: boolean[] = [];
    await this.em().transactional(async (tx) => {
      const rows = await this.insertEvents(tx, events);
      fresh = freshness(events, rows);
      ({ changes } = await this.applyRows(tx, rows));
    });
    changes.forEach((change) => this.deps.pubsub.publish(change));
    return fresh;
  }

  private decode(row: StoredRow): ProviderStatusEvent | InboundReply {
    const { payload } = row;
    if (row.kind === 'event') return parseSendgridEvent(payload.event, 0, new Date(row.received_at));
    if (row.kind === 'inbound') return parseTwilioInbound(payload.params!);
    return parseTwilioStatus(payload.params!, payload.url!, new Date(row.received_at));
  }

  /**
   * Applies one stored event; true when it is done. Inline (the webhook request) it waits for a scheduler pass that
   * holds the row, so the answer comes after the effects; the scheduler skips rows someone else holds.
   */
  async process(id: string, mode: 'wait' | 'skip' = 'wait'): Promise<boolean> {
    return (await this.processMany([id], mode)) === 1;
  }

  /**
   * Applies stored events in one transaction (rows and messages locked in id order, one flush); returns how many are
   * done. An event whose message is not yet SENT stays pending with the reason.
   */
  private async processMany(ids: string[], mode: 'wait' | 'skip'): Promise<number> {
    if (ids.length === 0) return 0;
    let outcome: { changes: StatusChange[]; done: number } = { changes: [], done: 0 };
    await this.em().transactional(async (tx) => {
      // Locked in id order (no deadlocks between groups), applied in the order they arrived.
      const rows = await runRaw<StoredRow>(
        tx,
        `select id, kind, payload, received_at from provider_event
          where id in (${ids.map(() => '?').join(', ')}) and processed_at is null
          order by id for update${mode === 'skip' ? ' skip locked' : ''}`,
        ids,
      );
      const arrival = new Map(ids.map((id, i) => [id, i]));
      rows.sort((a, b) => arrival.get(a.id)! - arrival.get(b.id)!);
      outcome = await this.applyRows(tx, rows);
    });
    outcome.changes.forEach((change) => this.deps.pubsub.publish(change));
    return outcome.done;
  }

  /**
   * Applies stored rows inside the caller's transaction (one flush) and records on each row whether it is done or
   * why it waits (message not yet SENT); returns the changes to publish after commit and how many are done.
   */
  private async applyRows(
    tx: EntityManager,
    rows: StoredRow[],
  ): Promise<{ changes: StatusChange[]; done: number }> {
    const now = this.deps.clock.now();
    const results: EventResult[] = [];
    const statuses: { id: string; event: ProviderStatusEvent; scope: WebhookScope }[] = [];
    let changes: StatusChange[] = [];
    for (const row of rows) {
      let decoded: ProviderStatusEvent | InboundReply;
      try {
        decoded = this.decode(row);
      } catch (error) {
        // Stored by an earlier version under other rules: kept for operators, never blocking the rows with it.
        results.push({ id: row.id, processed_at: now, last_error: `cannot be read: ${String(error)}` });
        continue;
      }
      const scope = row.payload.scope ?? null;
      if ('keyword' in decoded) {
        await this.status.applyInbound(tx, decoded, scope);
        results.push({ id: row.id, processed_at: now, tenant_id: scope?.tenantId });
      } else if (!decoded.heraldMessageId && !decoded.providerMessageId) {
        // Names no message (an account event, say): recorded, nothing to apply, nothing to wait for.
        results.push({ id: row.id, processed_at: now, last_error: 'names no message; recorded only' });
      } else statuses.push({ id: row.id, event: decoded, scope });
    }
    const outcomes = await this.status.applyStatusEvents(
      tx,
      statuses.map((s) => s.event),
      statuses.map((s) => s.scope),
    );
    outcomes.forEach((outcome, i) => {
      const { id, event, scope } = statuses[i];
      if (outcome.kind === 'pending') {
        results.push({ id, last_error: outcome.reason });
        return;
      }
      if (outcome.kind === 'foreign') {
        // A webhook touches only messages sent through the account it came through (issue 13): kept, counted and
        // logged like an unknown part, nothing changed.
        results.push({ id, processed_at: now, last_error: outcome.reason });
        this.unknowns.report(event.provider, [{ kind: 'foreign', detail: outcome.reason }], {
          eventKey: event.eventKey,
          channelConfigId: scope?.configId ?? null,
        });
        return;
      }
      results.push({
        id,
        processed_at: now,
        tenant_id: outcome.message.tenantId,
        message_id: outcome.message.id,
      });
      changes = changes.concat(outcome.changes);
    });
    if (results.length > 0) {
      await runRaw(
        tx,
        `update provider_event p
            set attempts = p.attempts + 1, processed_at = r.processed_at, last_error = r.last_error,
                tenant_id = coalesce(r.tenant_id, p.tenant_id), message_id = coalesce(r.message_id, p.message_id)
           from json_to_recordset(?::json)
             as r(id uuid, processed_at timestamptz, last_error text, tenant_id text, message_id uuid)
          where p.id = r.id`,
        [JSON.stringify(results)],
      );
    }
    return { changes, done: results.filter((r) => r.processed_at).length };
  }

  /**
   * Concurrent webhooks are stored and applied together: one insert and one transaction for the whole group. Each
   * request is answered once its event is stored and an attempt to apply it made; its value says whether this
   * request stored it (false for a redelivery).
   */
  private readonly intake = new GroupCommit<Incoming, boolean>(
    async (_provider, events) => {
      try {
        return (await this.storeAndApply(events)).map((value) => ({ ok: true, value }));
      } catch (error) {
        // Nothing of the group was kept: store the events first (each on its own should the group's insert fail
        // too, so one event the database refuses fails only its own request, which the provider delivers again),
        // then apply each as far as it goes.
        this.deps.logger.warn(
          { err: error, events: events.length },
          'applying a webhook group failed; storing first',
        );
        return this.storeEach(events);
      }
    },
    { maxBatch: 500, inFlight: 2 },
  );

  private async storeEach(events: Incoming[]): Promise<Settled<boolean>[]> {
    try {
      const rows = await this.store(events);
      await this.processQuietly(rows.map((r) => r.id));
      return freshness(events, rows).map((value) => ({ ok: true, value }));
    } catch (error) {
      if (events.length === 1) return [{ ok: false, error }];
      this.deps.logger.warn(
        { err: error, events: events.length },
        'storing a webhook group failed; one by one',
      );
      return Promise.all(
        events.map((event) =>
          settle(
            this.store([event]).then(async (rows) => {
              await this.processQuietly(rows.map((r) => r.id));
              return rows.length > 0;
            }),
          ),
        ),
      );
    }
  }

  /**
   * Vendors send what they send, and a verified event must not be lost: a NUL or a lone surrogate (which
   * PostgreSQL cannot store) is kept as U+FFFD rather than refused. The signature was checked on the raw bytes.
   * Resolves true when this request stored the event, false when it was stored before (a redelivery).
   */
  private submit(event: Incoming): Promise<boolean> {
    return this.intake.submit(event.provider, {
      ...event,
      eventKey: toStorable(event.eventKey),
      payload: sanitizeJson(event.payload),
    });
  }

  /**
   * Applies the events now when possible; when the group fails (a deadlock with another process, say) each is
   * tried alone, and a failure there is logged: the event stays stored for the scheduler.
   */
  private async processQuietly(ids: string[]) {
    try {
      await this.processMany(ids, 'wait');
    } catch (error) {
      if (ids.length === 1) {
        this.deps.logger.warn(
          { err: error, providerEventId: ids[0] },
          'provider event stored; applying it failed, will retry',
        );
        return;
      }
      for (const id of ids) await this.processQuietly([id]);
    }
  }

  async twilioStatus(req: RawWebhookRequest): Promise<void> {
    await this.intakeTwilioStatus(this.verifyTwilio(req), req, null);
  }

  /** Returns the TwiML to answer with (the help text for HELP/INFO, otherwise empty). */
  async twilioInbound(req: RawWebhookRequest): Promise<string> {
    return this.intakeTwilioInbound(this.verifyTwilio(req), req, null);
  }

  /**
   * Stores every event of the batch it can; an element that is not an event or whose key cannot be stored is
   * skipped and counted (`malformed`, `unstorable`). Returns how many events were accepted.
   */
  async sendgridEvents(req: RawWebhookRequest): Promise<number> {
    this.verifySendgrid(req);
    return this.intakeSendgrid(req, null);
  }

  /**
   * POST /webhooks/twilio/:configId/status: verified with that config's auth token over the per-config URL; the
   * event may touch only messages sent through that config. WebhookConfigNotFoundError (404) for no such Twilio
   * config, WebhookSignatureError (403) for any other secret (another tenant's, the service-wide token).
   */
  async twilioStatusFor(configId: string, req: RawWebhookRequest): Promise<void> {
    const { verify, scope } = await this.configVerifiers.forTwilio(this.em(), configId);
    await this.intakeTwilioStatus(verify(req), req, scope);
  }

  /** POST /webhooks/twilio/:configId/inbound: a reply to that config's sender belongs to the config's tenant. */
  async twilioInboundFor(configId: string, req: RawWebhookRequest): Promise<string> {
    const { verify, scope } = await this.configVerifiers.forTwilio(this.em(), configId);
    return this.intakeTwilioInbound(verify(req), req, scope);
  }

  /** POST /webhooks/sendgrid/:configId/events: ECDSA with that config's `webhookPublicKey`. */
  async sendgridEventsFor(configId: string, req: RawWebhookRequest): Promise<number> {
    const { verify, scope } = await this.configVerifiers.forSendgrid(this.em(), configId);
    verify(req);
    return this.intakeSendgrid(req, scope);
  }

  private async intakeTwilioStatus(params: TwilioForm, req: RawWebhookRequest, scope: WebhookScope) {
    const event = parseTwilioStatus(params, req.url, this.deps.clock.now());
    assertIndexable(event);
    const fresh = await this.submit({
      provider: storedProvider('twilio', scope),
      kind: 'status',
      eventKey: event.eventKey,
      payload: { params, url: req.url, ...(scope ? { scope } : {}) },
    });
    // Counted once per stored event: a redelivery of the same request is not a new unknown part.
    if (fresh) this.unknowns.report('twilio', event.unknowns ?? [], { eventKey: event.eventKey });
  }

  private async intakeTwilioInbound(params: TwilioForm, req: RawWebhookRequest, scope: WebhookScope) {
    const reply = parseTwilioInbound(params);
    assertIndexable(reply, { from: reply.from, to: reply.to });
    const fresh = await this.submit({
      provider: storedProvider('twilio', scope),
      kind: 'inbound',
      eventKey: reply.eventKey,
      payload: { params, url: req.url, ...(scope ? { scope } : {}) },
    });
    if (fresh) this.unknowns.report('twilio', reply.unknowns ?? [], { eventKey: reply.eventKey });
    return twimlReply(reply.keyword === 'HELP' ? this.deps.config.inbound.helpText : undefined);
  }

  private async intakeSendgrid(req: RawWebhookRequest, scope: WebhookScope): Promise<number> {
    // The parser skips (and reports) an element whose key or message ids cannot be stored rather than failing its
    // batch: a 4xx or 5xx makes SendGrid retry the whole batch for 24 hours. Alone, that element answers 400.
    const { events, skipped } = parseSendgridEvents(req.body, this.deps.clock.now());
    // Skipped elements are not stored, so they are counted at this delivery (SendGrid does not redeliver a 2xx).
    this.unknowns.report('sendgrid', skipped);
    await Promise.all(
      events.map(async (event) => {
        const fresh = await this.submit({
          provider: storedProvider('sendgrid', scope),
          kind: 'event',
          eventKey: event.eventKey,
          payload: { event: event.raw, ...(scope ? { scope } : {}) },
        });
        if (fresh) this.unknowns.report('sendgrid', event.unknowns ?? [], { eventKey: event.eventKey });
      }),
    );
    return events.length;
  }

  /** The scheduler's pass over stored events still waiting (message not yet SENT, or a crash after the 2xx). */
  async processPending(limit = 200, signal?: AbortSignal): Promise<number> {
    const since = new Date(this.deps.clock.now().getTime() - GIVE_UP_AFTER_MS);
    const rows = await this.em()
      .getConnection()
      .execute<{ id: string }[]>(
        'select id from provider_event where processed_at is null and received_at > ? order by received_at limit ?',
        [since, limit],
        'all',
      );
    let processed = 0;
    for (const { id } of rows) {
      // Shutdown: the rest stay unprocessed for the next pass (of this process or another).
      if (signal?.aborted) break;
      if (await this.process(id, 'skip').catch(() => false)) processed += 1;
    }
    return processed;
  }
}
