import { Entity, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';

/** Tenant of rows that belong to the service-wide sending identity rather than to one tenant. */
export const SERVICE_WIDE = '*';

/**
 * Every webhook call a provider made, stored raw before Herald answers 2xx. The unique (provider, eventKey) makes a
 * redelivered event a no-op; `processedAt` stays empty until its effects are applied, so a crash after the 2xx only
 * delays them (the scheduler picks unprocessed events up).
 */
@Entity({ tableName: 'provider_event' })
@Unique({ properties: ['provider', 'eventKey'] })
export class ProviderEvent {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  /** The matched message's tenant; SERVICE_WIDE until (or unless) one matches. */
  @Property({ type: 'text' })
  tenantId: string = SERVICE_WIDE;

  @Property({ type: 'text' })
  provider!: string;

  /** status | inbound | event */
  @Property({ type: 'text' })
  kind!: string;

  @Property({ type: 'text' })
  eventKey!: string;

  @Property({ type: 'uuid', nullable: true })
  messageId?: string | null;

  @Property({ type: 'json' })
  payload!: Record<string, unknown>;

  @Property({ type: 'timestamptz' })
  receivedAt!: Date;

  @Property({ type: 'timestamptz', nullable: true })
  processedAt?: Date | null;

  @Property({ type: 'integer' })
  attempts: number = 0;

  @Property({ type: 'text', nullable: true })
  lastError?: string | null;
}
