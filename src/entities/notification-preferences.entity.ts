import { Entity, Enum, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import { randomUUID } from 'node:crypto';
import { Channel } from './enums';

export enum Frequency {
  IMMEDIATE = 'IMMEDIATE',
  DAILY = 'DAILY',
  WEEKLY = 'WEEKLY',
}
registerEnumType(Frequency, {
  name: 'Frequency',
  description: 'Caps MARKETING messages per channel; later ones are deferred',
});

@ObjectType()
export class ChannelPreference {
  @Field(() => Channel)
  channel!: Channel;

  @Field()
  enabled!: boolean;
}

@ObjectType()
export class TypePreference {
  @Field()
  type!: string;

  @Field(() => Channel)
  channel!: Channel;

  @Field()
  enabled!: boolean;
}

@ObjectType()
export class QuietHours {
  @Field({ description: '"22:00" in the user\'s timezone (ContactInfo.timezone)' })
  start!: string;

  @Field({ description: '"08:00"; a window may cross midnight' })
  end!: string;
}

/** One user's preferences. Absent rows mean the defaults (everything on, no quiet hours, IMMEDIATE). */
@ObjectType()
@Entity({ tableName: 'notification_preferences' })
@Unique({ properties: ['tenantId', 'userId'] })
export class NotificationPreferences {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  @Field()
  @Property({ type: 'text' })
  userId!: string;

  @Field(() => [ChannelPreference])
  @Property({ type: 'json' })
  channels: ChannelPreference[] = [];

  @Field(() => [TypePreference])
  @Property({ type: 'json' })
  types: TypePreference[] = [];

  @Field(() => QuietHours, { nullable: true })
  @Property({ type: 'json', nullable: true })
  quietHours?: QuietHours | null;

  @Field(() => Frequency)
  @Enum({ items: () => Frequency })
  frequency: Frequency = Frequency.IMMEDIATE;

  @Field(() => String, { nullable: true, description: '"18:30" local time preferred for SMS' })
  @Property({ type: 'text', nullable: true })
  preferredSmsTime?: string | null;

  @Field(() => Int, {
    nullable: true,
    description: 'ISO weekday preferred for email (1 = Monday … 7 = Sunday)',
  })
  @Property({ type: 'integer', nullable: true })
  preferredEmailDay?: number | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  segment?: string | null;

  @Field()
  @Property({ type: 'timestamptz' })
  updatedAt!: Date;
}
