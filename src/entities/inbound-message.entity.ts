import { Entity, Enum, Index, PrimaryKey, Property } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Channel } from './enums';

/** A reply received over SMS or WhatsApp (direction IN), linked to the user whose contact has that number. */
@Entity({ tableName: 'inbound_message' })
@Index({ properties: ['tenantId', 'userId', 'receivedAt'] })
// WhatsApp's 24-hour window: a customer's last reply to the sender (service-window.ts).
@Index({ properties: ['channel', 'from', 'receivedAt'] })
export class InboundMessage {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  /** The tenant whose contact has the sender's number; SERVICE_WIDE when none does. */
  @Property({ type: 'text' })
  tenantId!: string;

  @Property({ type: 'text', nullable: true })
  userId?: string | null;

  @Property({ type: 'text' })
  direction: string = 'IN';

  @Enum({ items: () => Channel })
  channel!: Channel;

  @Property({ type: 'text' })
  from!: string;

  @Property({ type: 'text' })
  to!: string;

  @Property({ type: 'text' })
  body!: string;

  @Property({ type: 'json' })
  media: string[] = [];

  /** STOP, START or HELP by Herald's reply rule (src/domain/reply-keywords.ts); null for any other reply. */
  @Property({ type: 'text', nullable: true })
  keyword?: string | null;

  /**
   * The reply is not an opt-out by the rule but mentions an opt-out word ("please don't stop", "End of day works"):
   * consent is left as it was and a person decides (47 CFR 64.1200(a)(10): revocation "by any reasonable means").
   */
  @Property({ type: 'boolean', default: false })
  possibleOptOut: boolean = false;

  @Property({ type: 'text' })
  providerMessageId!: string;

  /** The tenant channel config the reply came through (its own inbound path); null = the service-wide number. */
  @Property({ type: 'uuid', nullable: true })
  channelConfigId?: string | null;

  @Property({ type: 'timestamptz' })
  receivedAt!: Date;
}
