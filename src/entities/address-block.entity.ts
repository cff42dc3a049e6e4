import { Entity, Enum, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Channel } from './enums';

export enum BlockKind {
  /** The address cannot receive: bounce, invalid, spam report. Reason code `suppressed_address`. */
  SUPPRESSION = 'SUPPRESSION',
  /** The person asked to stop: STOP reply, unsubscribe, Twilio 21610. Reason code `opted_out`. */
  OPT_OUT = 'OPT_OUT',
}

/**
 * An address a sending identity must not send to on a channel. With service-wide provider credentials the identity is
 * SERVICE_WIDE and the block applies to every tenant (CONTRACT.md).
 */
@Entity({ tableName: 'address_block' })
@Unique({ properties: ['identity', 'channel', 'address', 'kind'] })
export class AddressBlock {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  /** The sending identity; also the tenant column (SERVICE_WIDE for service-wide credentials). */
  @Property({ type: 'text' })
  identity!: string;

  @Enum({ items: () => Channel })
  channel!: Channel;

  /** Lower-cased email, or E.164 phone. */
  @Property({ type: 'text' })
  address!: string;

  @Enum({ items: () => BlockKind })
  kind!: BlockKind;

  /** bounce, dropped, spamreport, unsubscribe, STOP, 21610… */
  @Property({ type: 'text' })
  reason!: string;

  /** The provider event or send that caused it. */
  @Property({ type: 'text', nullable: true })
  source?: string | null;

  @Property({ type: 'timestamptz' })
  createdAt!: Date;
}
