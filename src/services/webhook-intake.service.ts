import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import { ProviderEvent } from '../entities';
import {
  parseSendgridEvent,
  parseSendgridEvents,
  sendgridVerifier,
  type SendgridEvent,
  type SendgridVerifier,
} from '../providers/sendgrid.webhook';
import { parseTwilioInbound, parseTwilioStatus, twimlReply, verifyTwilio } from '../providers/twilio.webhook';
import type { InboundReply, ProviderStatusEvent, RawWebhookRequest } from '../providers/webhook.types';
import { WebhookFormatError, WebhookSignatureError } from '../providers/webhook.types';
import type { DeliveryStatusService } from './delivery-status.service';
import type { ServiceDeps } from './deps';
import type { StatusChange } from './message-status';

export { WebhookFormatError, WebhookSignatureError };

type Kind = 'status' | 'inbound' | 'event';

interface StoredPayload {
  params?: Record<string, string>;
  url?: string;
  event?: SendgridEvent;
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

  constructor(
    private readonly deps: ServiceDeps,
    private readonly status: DeliveryStatusService,
  ) {
    this.verifySendgrid = sendgridVerifier(deps.config.sendgrid.webhookPublicKey);
  }

  private em() {
    return this.deps.orm.em.fork() as EntityManager;
  }

  /** Inserts unless (provider, eventKey) exists; returns the new row's id, or undefined for a duplicate. */
  private async store(
    provider: string,
    kind: Kind,
    eventKey: string,
    payload: StoredPayload,
  ): Promise<string | undefined> {
    const rows = await this.em()
      .getConnection()
      .execute<{ id: string }[]>(
        `insert into provider_event (id, tenant_id, provider, kind, event_key, payload, received_at, attempts)
         values (?, '*', ?, ?, ?, ?::jsonb, ?, 0) on conflict (provider, event_key) do nothing returning id`,
        [randomUUID(), provider, kind, eventKey, JSON.stringify(payload), this.deps.clock.now()],
        'all',
      );
    return rows[0]?.id;
  }

  private decode(row: ProviderEvent): ProviderStatusEvent | InboundReply {
    const payload = row.payload as StoredPayload;
    if (row.kind === 'event') return parseSendgridEvent(payload.event!);
    if (row.kind === 'inbound') return parseTwilioInbound(payload.params!);
    return parseTwilioStatus(payload.params!, payload.url!, row.receivedAt);
  }

  /**
   * Applies one stored event; true when it is done. Inline (the webhook request) it waits for a scheduler pass that
   * holds the row, so the answer comes after the effects; the scheduler skips rows someone else holds.
   */
  async process(id: string, mode: 'wait' | 'skip' = 'wait'): Promise<boolean> {
    let changes: StatusChange[] = [];
    const done = await this.em().transactional(async (tx) => {
      const locked = await tx
        .getConnection()
        .execute<{ id: string }[]>(
          `select id from provider_event where id = ? and processed_at is null for update${mode === 'skip' ? ' skip locked' : ''}`,
          [id],
          'all',
          tx.getTransactionContext(),
        );
      if (locked.length === 0) return false;
      const row = await tx.findOneOrFail(ProviderEvent, { id });
      const now = this.deps.clock.now();
      row.attempts += 1;
      const decoded = this.decode(row);
      if ('keyword' in decoded) {
        await this.status.applyInbound(tx, decoded);
        row.processedAt = now;
        return true;
      }
      const outcome = await this.status.applyStatusEvent(tx, decoded);
      if (outcome.kind === 'pending') {
        row.lastError = outcome.reason;
        return false;
      }
      row.processedAt = now;
      row.lastError = null;
      row.tenantId = outcome.message.tenantId;
      row.messageId = outcome.message.id;
      changes = outcome.changes;
      return true;
    });
    changes.forEach((change) => this.deps.pubsub.publish(change));
    return done;
  }

  /** Applies the event now when possible; a failure here is logged, the event stays stored for the scheduler. */
  private async processQuietly(id: string | undefined) {
    if (!id) return;
    try {
      await this.process(id);
    } catch (error) {
      this.deps.logger.warn(
        { err: error, providerEventId: id },
        'provider event stored; applying it failed, will retry',
      );
    }
  }

  async twilioStatus(req: RawWebhookRequest): Promise<void> {
    const params = verifyTwilio(req, this.deps.config.twilio.authToken);
    const event = parseTwilioStatus(params, req.url, this.deps.clock.now());
    await this.processQuietly(await this.store('twilio', 'status', event.eventKey, { params, url: req.url }));
  }

  /** Returns the TwiML to answer with (the help text for HELP/INFO, otherwise empty). */
  async twilioInbound(req: RawWebhookRequest): Promise<string> {
    const params = verifyTwilio(req, this.deps.config.twilio.authToken);
    const reply = parseTwilioInbound(params);
    await this.processQuietly(
      await this.store('twilio', 'inbound', reply.eventKey, { params, url: req.url }),
    );
    return twimlReply(reply.keyword === 'HELP' ? this.deps.config.inbound.helpText : undefined);
  }

  async sendgridEvents(req: RawWebhookRequest): Promise<number> {
    this.verifySendgrid(req);
    const events = parseSendgridEvents(req.body);
    const raw = JSON.parse(req.body.toString('utf8')) as SendgridEvent[];
    const ids: (string | undefined)[] = [];
    for (const [i, event] of events.entries())
      ids.push(await this.store('sendgrid', 'event', event.eventKey, { event: raw[i] }));
    for (const id of ids) await this.processQuietly(id);
    return events.length;
  }

  /** The scheduler's pass over stored events still waiting (message not yet SENT, or a crash after the 2xx). */
  async processPending(limit = 200): Promise<number> {
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
      if (await this.process(id, 'skip').catch(() => false)) processed += 1;
    }
    return processed;
  }
}
