import { Field, InputType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { Channel, Priority } from '../../entities/enums';

@InputType({ description: 'Addresses for this send; each wins over stored contact info and devices.' })
export class RecipientInput {
  @Field(() => String, { nullable: true })
  email?: string | null;

  @Field(() => String, { nullable: true, description: 'E.164, e.g. +14155552671' })
  phone?: string | null;

  @Field(() => String, { nullable: true, description: 'E.164 number on WhatsApp' })
  whatsapp?: string | null;

  @Field(() => [String], { nullable: true })
  deviceTokens?: string[] | null;

  @Field(() => String, { nullable: true, description: 'FCM topic (PUSH)' })
  topic?: string | null;

  @Field(() => String, { nullable: true, description: 'FCM condition, e.g. "\'news\' in topics" (PUSH)' })
  condition?: string | null;
}

@InputType({
  description:
    "A WhatsApp template (Twilio Content API). WhatsApp delivers free-form text only within 24 hours of the customer's last message; a template may be sent at any time.",
})
export class WhatsappTemplateInput {
  @Field(() => String, { description: 'Content SID of an approved template: HX + 32 hex digits' })
  contentSid!: string;

  @Field(() => GraphQLJSON, {
    nullable: true,
    description:
      'Placeholder values, e.g. {"1": "Ada", "2": "12/1"}: up to 100 keys of 1-16 letters or digits, each a non-empty string of at most 1,600 characters without newlines, tabs or more than 4 spaces in a row',
  })
  contentVariables?: Record<string, unknown> | null;
}

@InputType({ description: 'Explicit content; wins over the type template field by field.' })
export class ContentInput {
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

  @Field(() => [String], { nullable: true, description: 'MMS / WhatsApp media URLs' })
  mediaUrls?: string[] | null;

  @Field(() => String, { nullable: true, description: 'Push image URL' })
  imageUrl?: string | null;

  @Field(() => WhatsappTemplateInput, {
    nullable: true,
    description:
      'WHATSAPP messages go out as this template; body and mediaUrls are then not sent on WhatsApp',
  })
  whatsappTemplate?: WhatsappTemplateInput | null;
}

@InputType()
export class SendNotificationInput {
  @Field(() => String)
  userId!: string;

  @Field(() => String, { description: 'Notification type key; an unknown key needs explicit content' })
  type!: string;

  @Field(() => GraphQLJSON, { nullable: true, description: 'Template variables ({{ data.amount }})' })
  data?: Record<string, unknown> | null;

  @Field(() => [Channel], {
    nullable: true,
    description: "Channels to use; default: the type's default channels",
  })
  channels?: Channel[] | null;

  @Field(() => Priority, { nullable: true })
  priority?: Priority | null;

  @Field(() => Date, { nullable: true })
  scheduledAt?: Date | null;

  @Field(() => String, { nullable: true })
  idempotencyKey?: string | null;

  @Field(() => RecipientInput, { nullable: true })
  to?: RecipientInput | null;

  @Field(() => ContentInput, { nullable: true })
  content?: ContentInput | null;
}
