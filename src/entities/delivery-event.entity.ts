import { Entity, Enum, Index, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { randomUUID } from 'node:crypto';
import { MessageStatus } from './enums';

/** One entry of a message's history: every status change Herald makes and, later, every provider event. */
@ObjectType()
@Entity({ tableName: 'delivery_event' })
@Index({ properties: ['tenantId', 'messageId', 'occurredAt'] })
export class DeliveryEvent {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  @Field(() => ID)
  @Property({ type: 'uuid' })
  messageId!: string;

  @Field(() => MessageStatus)
  @Enum({ items: () => MessageStatus })
  status!: MessageStatus;

  @Field(() => MessageStatus, { nullable: true })
  @Enum({ items: () => MessageStatus, nullable: true })
  previousStatus?: MessageStatus | null;

  @Field({
    description:
      "When it happened, by the reporter's clock: Herald's for its own changes, the provider's for reported events (often whole seconds)",
  })
  @Property({ type: 'timestamptz' })
  occurredAt!: Date;

  @Field({ description: 'herald, or the provider that reported it (twilio, sendgrid, fcm)' })
  @Property({ type: 'text' })
  source!: string;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  provider?: string | null;

  @Field(() => Int, { nullable: true })
  @Property({ type: 'integer', nullable: true })
  attempt?: number | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  providerEventId?: string | null;

  @Field(() => String, {
    nullable: true,
    description: "The provider's own event name (delivered, bounce, open, spamreport…), when it reported one",
  })
  @Property({ type: 'text', nullable: true })
  eventType?: string | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  errorCode?: string | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  errorMessage?: string | null;

  @Property({ type: 'json', nullable: true })
  raw?: Record<string, unknown> | null;

  /**
   * When Herald stored the event. A message's history is ordered by this, then by `seq`: providers stamp events in
   * whole seconds, so by occurredAt a DELIVERED could sort before the SENT Herald recorded 183 ms earlier.
   */
  @Field({
    description: 'When Herald recorded the event; Message.events is in this order, then insertion order',
  })
  @Property({ type: 'timestamptz' })
  recordedAt: Date = new Date();

  /** Insertion order (a PostgreSQL identity): the tie-break for events recorded at the same instant. */
  @Property({ type: 'bigint', autoincrement: true, nullable: true })
  seq?: string;
}
