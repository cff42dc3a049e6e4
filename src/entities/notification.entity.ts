import { Entity, Enum, Formula, Index, PrimaryKey, Property } from '@mikro-orm/core';
import { Directive, Field, ID, ObjectType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { randomUUID } from 'node:crypto';
import { Channel, NotificationStatus, Priority } from './enums';
import type { WhatsappTemplate } from './whatsapp-template';

/** Explicit content given with a send (instead of, or on top of, a type's templates). */
export interface ContentValue {
  subject?: string | null;
  text?: string | null;
  html?: string | null;
  title?: string | null;
  body?: string | null;
  mediaUrls?: string[] | null;
  imageUrl?: string | null;
  /** WHATSAPP messages of the send go out as this template (body and media are not sent with it). */
  whatsappTemplate?: WhatsappTemplate | null;
}

/** Addresses given with a send; they win over stored contact info and devices. */
export interface RecipientValue {
  email?: string | null;
  phone?: string | null;
  whatsapp?: string | null;
  deviceTokens?: string[] | null;
  topic?: string | null;
  condition?: string | null;
}

/** One send request. Its messages (one per channel × address) carry the delivery state. */
@Directive('@key(fields: "id")')
@ObjectType()
@Entity({ tableName: 'notification' })
@Index({ properties: ['tenantId', 'userId', 'createdAt', 'id'] })
@Index({ properties: ['tenantId', 'createdAt', 'id'] })
export class Notification {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  @Field(() => ID)
  @Property({ type: 'text' })
  userId!: string;

  @Field({ description: 'Notification type key' })
  @Property({ type: 'text' })
  type!: string;

  @Field(() => GraphQLJSON, { nullable: true })
  @Property({ type: 'json', nullable: true })
  data?: Record<string, unknown> | null;

  @Field(() => Priority)
  @Enum({ items: () => Priority })
  priority: Priority = Priority.MEDIUM;

  @Field(() => [Channel])
  @Property({ type: 'json' })
  channels: Channel[] = [];

  @Property({ type: 'json', nullable: true })
  recipient?: RecipientValue | null;

  /** Lazy: up to megabytes (a whole email); the dispatcher loads it inside its content budget (contentBytes). */
  @Property({ type: 'json', nullable: true, lazy: true })
  content?: ContentValue | null;

  /** Size of the stored explicit content (bytes of its JSON text; null when there is none), read without loading it. */
  @Formula((table) => `octet_length(${table.alias}.content::text)`, {
    type: 'integer',
    nullable: true,
  })
  contentBytes?: number | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  scheduledAt?: Date | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  idempotencyKey?: string | null;

  /** Hash of the send's input, so a reused idempotency key with a different input is a CONFLICT. */
  @Property({ type: 'text', nullable: true })
  inputHash?: string | null;

  @Field(() => NotificationStatus)
  @Enum({ items: () => NotificationStatus })
  status: NotificationStatus = NotificationStatus.PROCESSING;

  @Field()
  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();

  @Field()
  @Property({ type: 'timestamptz' })
  updatedAt: Date = new Date();
}
