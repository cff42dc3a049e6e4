import { Field, InputType, Int } from 'type-graphql';
import { CapAction, CapPeriod } from '../../entities/notification-type.entity';
import { Channel, NotificationCategory, Priority } from '../../entities/enums';
import { WhatsappTemplateInput } from './send-notification.input';

@InputType({
  description: 'Liquid templates: {{ data.x }} reads the send data, {{ user.email }} the contact.',
})
export class TemplateInput {
  @Field(() => Channel)
  channel!: Channel;

  @Field(() => String, { nullable: true })
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

  @Field(() => String, { nullable: true, description: 'Push image URL' })
  imageUrl?: string | null;

  @Field(() => WhatsappTemplateInput, {
    nullable: true,
    description:
      'WHATSAPP only: an approved template sent instead of the body (allowed outside the 24-hour window); each contentVariables value is Liquid, e.g. {"1": "{{ data.name }}"}',
  })
  whatsappTemplate?: WhatsappTemplateInput | null;
}

@InputType()
export class FrequencyCapInput {
  @Field(() => Int)
  limit!: number;

  @Field(() => CapPeriod)
  period!: CapPeriod;

  @Field(() => CapAction, { defaultValue: CapAction.DEFER })
  action!: CapAction;
}

@InputType()
export class NotificationTypeInput {
  @Field(() => String)
  key!: string;

  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => NotificationCategory, { nullable: true })
  category?: NotificationCategory | null;

  @Field(() => [Channel], { nullable: true })
  defaultChannels?: Channel[] | null;

  @Field(() => Priority, { nullable: true })
  defaultPriority?: Priority | null;

  @Field(() => [TemplateInput], { nullable: true, description: 'Replaces every template of the type' })
  templates?: TemplateInput[] | null;

  @Field(() => [Channel], {
    nullable: true,
    description:
      'Channels to fall back to, in order, when one is blocked, failed at every provider, or has every provider down',
  })
  fallbackChannels?: Channel[] | null;

  @Field(() => FrequencyCapInput, { nullable: true, description: 'null removes the cap' })
  frequencyCap?: FrequencyCapInput | null;
}
