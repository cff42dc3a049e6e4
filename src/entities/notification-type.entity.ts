import { Entity, Enum, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { randomUUID } from 'node:crypto';
import { Channel, NotificationCategory, Priority } from './enums';
import { WhatsappTemplate } from './whatsapp-template';

/** One Liquid template of a type, per channel and locale (stored inside the type as JSON). */
@ObjectType()
export class Template {
  @Field(() => Channel)
  channel!: Channel;

  @Field(() => String, { nullable: true, description: 'BCP 47; absent = the default for the channel' })
  locale?: string | null;

  @Field(() => String, { nullable: true })
  subject?: string | null;

  @Field(() => String, { nullable: true })
  text?: string | null;

  @Field(() => String, { nullable: true })
  html?: string | null;

  @Field(() => String, { nullable: true })
  body?: string | null;

  @Field(() => String, { nullable: true })
  title?: string | null;

  @Field(() => String, { nullable: true, description: 'Push image URL (Liquid)' })
  imageUrl?: string | null;

  @Field(() => WhatsappTemplate, {
    nullable: true,
    description: 'WHATSAPP only: send this approved template (any time) instead of the free-form body',
  })
  whatsappTemplate?: WhatsappTemplate | null;
}

export enum CapPeriod {
  HOUR = 'HOUR',
  DAY = 'DAY',
  WEEK = 'WEEK',
}
export enum CapAction {
  DEFER = 'DEFER',
  SUPPRESS = 'SUPPRESS',
}
registerEnumType(CapPeriod, { name: 'CapPeriod' });
registerEnumType(CapAction, { name: 'CapAction', description: 'What happens to a message over the cap' });

@ObjectType()
export class FrequencyCap {
  @Field(() => Int)
  limit!: number;

  @Field(() => CapPeriod, { description: "Calendar hour, day or ISO week in the recipient's timezone" })
  period!: CapPeriod;

  @Field(() => CapAction)
  action!: CapAction;
}

@ObjectType()
@Entity({ tableName: 'notification_type' })
@Unique({ properties: ['tenantId', 'key'] })
export class NotificationType {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  @Field()
  @Property({ type: 'text' })
  key!: string;

  @Field()
  @Property({ type: 'text' })
  name!: string;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  description?: string | null;

  @Field(() => NotificationCategory)
  @Enum({ items: () => NotificationCategory })
  category: NotificationCategory = NotificationCategory.TRANSACTIONAL;

  @Field(() => [Channel])
  @Property({ type: 'json' })
  defaultChannels: Channel[] = [];

  @Field(() => Priority)
  @Enum({ items: () => Priority })
  defaultPriority: Priority = Priority.MEDIUM;

  @Field(() => [Template])
  @Property({ type: 'json' })
  templates: Template[] = [];

  @Field(() => [Channel], {
    description: 'Channels to try, in order, when a channel is blocked for the recipient',
  })
  @Property({ type: 'json' })
  fallbackChannels: Channel[] = [];

  @Field(() => FrequencyCap, {
    nullable: true,
    description: 'At most `limit` messages of this type per user and channel per period',
  })
  @Property({ type: 'json', nullable: true })
  frequencyCap?: FrequencyCap | null;

  @Field()
  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();

  @Field()
  @Property({ type: 'timestamptz', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}
