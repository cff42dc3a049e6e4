import { Field, InputType, Int } from 'type-graphql';
import { Channel } from '../../entities/enums';
import { Frequency } from '../../entities/notification-preferences.entity';

@InputType()
export class ChannelPreferenceInput {
  @Field(() => Channel)
  channel!: Channel;

  @Field()
  enabled!: boolean;
}

@InputType()
export class TypePreferenceInput {
  @Field()
  type!: string;

  @Field(() => Channel)
  channel!: Channel;

  @Field()
  enabled!: boolean;
}

@InputType({ description: '"22:00" to "08:00" in the user\'s timezone (ContactInfo.timezone)' })
export class QuietHoursInput {
  @Field()
  start!: string;

  @Field()
  end!: string;
}

@InputType({ description: 'A partial update: what is left out is kept' })
export class NotificationPreferencesInput {
  @Field(() => [ChannelPreferenceInput], { nullable: true })
  channels?: ChannelPreferenceInput[] | null;

  @Field(() => [TypePreferenceInput], { nullable: true })
  types?: TypePreferenceInput[] | null;

  @Field(() => QuietHoursInput, { nullable: true, description: 'null removes quiet hours' })
  quietHours?: QuietHoursInput | null;

  @Field(() => Frequency, { nullable: true })
  frequency?: Frequency | null;

  @Field(() => String, { nullable: true, description: '"18:30" local' })
  preferredSmsTime?: string | null;

  @Field(() => Int, { nullable: true, description: 'ISO weekday, 1 = Monday … 7 = Sunday' })
  preferredEmailDay?: number | null;

  @Field(() => String, { nullable: true })
  segment?: string | null;
}
