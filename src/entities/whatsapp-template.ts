import { Field, ObjectType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';

/**
 * A WhatsApp message template sent through Twilio's Content API: the approved template's Content SID (`HX` + 32 hex
 * digits) and the values of its placeholders (`{"1": "Ada"}`, sent to Twilio as the JSON string ContentVariables).
 * A template may be sent at any time; free-form text only inside the 24-hour customer service window.
 */
@ObjectType()
export class WhatsappTemplate {
  @Field(() => String, { description: 'Twilio Content SID of an approved template, HX + 32 hex digits' })
  contentSid!: string;

  @Field(() => GraphQLJSON, {
    nullable: true,
    description: 'Placeholder values by key ("1", "2"…); in a type template each value is Liquid',
  })
  contentVariables?: Record<string, unknown> | null;
}
