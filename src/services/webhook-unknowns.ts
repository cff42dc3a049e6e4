import { Counter } from 'prom-client';
import type { Logger } from '../config/logger';
import type { UnknownKind, UnknownPart } from '../providers/webhook.types';

/** Kinds that are batch elements left out: not stored, the rest of their batch is. */
const SKIPPED: ReadonlySet<UnknownKind> = new Set(['malformed', 'unstorable']);

/** The once-per-kind log line: what Herald did with the part. */
function describe(provider: string, kind: UnknownKind): string {
  if (kind === 'foreign')
    return `webhook: ${provider} reported a message sent through another account than the one it came through; stored, nothing changed (logged once per kind)`;
  return SKIPPED.has(kind)
    ? `webhook: ${provider} sent a batch element Herald cannot store (${kind}); skipped, not stored, the rest of the batch stored (logged once per kind)`
    : `webhook: ${provider} sent ${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} Herald does not know; stored and ignored for status (logged once per kind)`;
}

/**
 * What vendors send that Herald does not know (a new event type, status or form field, an account event, a batch
 * element it cannot store): counted in herald_webhook_unknown_events_total{provider,kind}, logged at info once per
 * provider and kind in this process (a vendor change shows once, not per event), and at warn every time for what an
 * operator must act on (SendGrid account_status_change: a suspended account sends nothing).
 */
export class WebhookUnknowns {
  /** Registered by the HTTP server on its /metrics registry. */
  readonly counter = new Counter({
    name: 'herald_webhook_unknown_events_total',
    help: 'Webhook parts Herald does not know (stored and ignored for status; malformed and unstorable batch elements skipped), by provider and kind',
    labelNames: ['provider', 'kind'] as const,
    registers: [],
  });

  private readonly logged = new Set<string>();

  constructor(private readonly logger: Logger) {}

  /**
   * Counts and logs the unknown parts of one event; `context` (event key, path) goes into the log line. Callers
   * report an event's parts once, when it is first stored, so a vendor's redelivery is not counted again.
   */
  report(provider: string, parts: UnknownPart[], context: Record<string, unknown> = {}): void {
    for (const part of parts) {
      this.counter.inc({ provider, kind: part.kind });
      const line = { provider, kind: part.kind, value: part.detail, ...context };
      if (part.level === 'warn') {
        this.logger.warn(line, `${provider} reported an account event: ${part.detail}`);
        continue;
      }
      const key = `${provider}|${part.kind}`;
      if (this.logged.has(key)) continue;
      this.logged.add(key);
      this.logger.info(line, describe(provider, part.kind));
    }
  }
}
