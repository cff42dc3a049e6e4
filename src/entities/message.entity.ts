import { Entity, Enum, Index, PrimaryKey, Property, type Opt } from '@mikro-orm/core';
import { Directive, Field, Float, ID, Int, ObjectType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { randomUUID } from 'node:crypto';
import { Channel, MessageStatus, Priority } from './enums';
import { WhatsappTemplate } from './whatsapp-template';

/** What was (or will be) handed to the provider, after rendering. */
@ObjectType()
export class RenderedContent {
  @Field(() => String, { nullable: true })
  subject?: string | null;

  @Field(() => String, { nullable: true })
  text?: string | null;

  @Field(() => String, { nullable: true })
  html?: string | null;

  @Field(() => String, { nullable: true })
  title?: string | null;

  @Field(() => String, { nullable: true })
  body?: string | null;

  @Field(() => [String], { nullable: true })
  mediaUrls?: string[] | null;

  @Field(() => String, { nullable: true })
  imageUrl?: string | null;

  @Field(() => GraphQLJSON, { nullable: true })
  data?: Record<string, string> | null;

  @Field(() => WhatsappTemplate, {
    nullable: true,
    description: 'The WhatsApp template sent (variables rendered); such a message carries no body',
  })
  whatsappTemplate?: WhatsappTemplate | null;
}

/**
 * One delivery: a channel × address of a notification. PostgreSQL is the only record of its status, due time,
 * lease and attempts; the queue only carries its id.
 */
@Directive('@key(fields: "id")')
@ObjectType()
@Entity({ tableName: 'message' })
@Index({ properties: ['tenantId', 'notificationId'] })
@Index({ properties: ['providerMessageId'] })
export class Message {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  @Field(() => ID)
  @Property({ type: 'uuid' })
  notificationId!: string;

  @Field(() => ID)
  @Property({ type: 'text' })
  userId!: string;

  @Field(() => Channel)
  @Enum({ items: () => Channel })
  channel!: Channel;

  @Field(() => Priority)
  @Enum({ items: () => Priority })
  priority: Priority = Priority.MEDIUM;

  /** The notification's type key, kept here so caps and reports need no join. */
  @Property({ type: 'text', nullable: true })
  typeKey?: string | null;

  /** TRANSACTIONAL or MARKETING, as decided at accept. */
  @Property({ type: 'text', nullable: true })
  category?: string | null;

  @Field(() => String, { nullable: true, description: 'Provider id, e.g. twilio-sms, sendgrid, fcm' })
  @Property({ type: 'text', nullable: true })
  provider?: string | null;

  /** The tenant's channel config that sent it; null = the service-wide provider accounts (or not sent yet). */
  @Field(() => ID, {
    nullable: true,
    description: "The tenant's channel config that sent it; null = the service-wide provider accounts",
  })
  @Property({ type: 'uuid', nullable: true })
  channelConfigId?: string | null;

  @Field({ description: 'Address: email, E.164 phone, device token, topic:<name> or condition:<expr>' })
  @Property({ type: 'text' })
  to!: string;

  /**
   * Lazy: up to megabytes per row (a whole email), so claims, roll-ups, webhooks and listings never read it; the
   * GraphQL field loads it on demand (MessageResolver.content).
   */
  @Field(() => RenderedContent, { nullable: true })
  @Property({ type: 'json', nullable: true, lazy: true })
  content?: RenderedContent | null;

  @Field(() => MessageStatus)
  @Enum({ items: () => MessageStatus })
  status: MessageStatus = MessageStatus.QUEUED;

  @Field(() => Date, { nullable: true, description: 'When the message is due to be (re)tried' })
  @Property({ type: 'timestamptz', nullable: true })
  dueAt?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  leaseUntil?: Date | null;

  @Field(() => Int, { description: 'Send attempts started so far (counted in PostgreSQL only)' })
  @Property({ type: 'integer' })
  attempt: number = 0;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  providerMessageId?: string | null;

  @Field(() => Float, { nullable: true, description: 'Cost in USD' })
  @Property({ type: 'double', nullable: true })
  cost?: number | null;

  @Field(() => String, {
    nullable: true,
    description:
      'estimate (from segments and the price table), or provider (the price the provider reported)',
  })
  @Property({ type: 'text', nullable: true })
  costSource?: string | null;

  /** When to ask the provider for its price (Twilio reports it only after the final status); null = not to. */
  @Property({ type: 'timestamptz', nullable: true })
  priceCheckDueAt?: Date | null;

  @Property({ type: 'integer' })
  priceChecks: number & Opt = 0;

  @Field(() => Int, {
    nullable: true,
    description:
      'SMS segments: at accept those the estimated cost was counted from (one for a template not rendered yet), once sent the provider’s count; null when no provider accepted the message',
  })
  @Property({ type: 'integer', nullable: true })
  segments?: number | null;

  /** Retryable failures per provider for this message: past DISPATCH_MAX_ATTEMPTS on one, the next provider is used. */
  @Property({ type: 'json' })
  providerFailures: Record<string, number> & Opt = {};

  @Property({ type: 'text', nullable: true })
  errorCode?: string | null;

  @Property({ type: 'text', nullable: true })
  errorMessage?: string | null;

  @Field()
  @Property({ type: 'boolean' })
  fallbackUsed: boolean = false;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  queuedAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  scheduledAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  sendingAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  sentAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  deliveredAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  readAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  openedAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  clickedAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  undeliveredAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  bouncedAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  failedAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  suppressedAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  cancelledAt?: Date | null;

  @Field()
  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();

  @Field()
  @Property({ type: 'timestamptz' })
  updatedAt: Date = new Date();
}
