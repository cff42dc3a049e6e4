import { Field, ID, InputType } from 'type-graphql';
import { Channel } from '../../entities/enums';

@InputType({ description: 'Proof of the consent: where and how it was given' })
export class ConsentProofInput {
  @Field(() => String, { nullable: true })
  ip?: string | null;

  @Field(() => String, { nullable: true })
  userAgent?: string | null;

  @Field(() => String, { nullable: true, description: 'The disclosure text the user agreed to' })
  text?: string | null;

  @Field(() => String, { nullable: true, description: 'Its version' })
  version?: string | null;
}

@InputType()
export class GrantConsentInput {
  @Field(() => ID)
  userId!: string;

  @Field(() => Channel)
  channel!: Channel;

  @Field(() => [String], { nullable: true, description: 'Type keys; none = every type of the channel' })
  types?: string[] | null;

  @Field(() => String, { nullable: true, description: 'Default: the contact address for the channel' })
  address?: string | null;

  @Field(() => String, { description: 'web_form, api, keyword…' })
  source!: string;

  @Field(() => ConsentProofInput, { nullable: true })
  proof?: ConsentProofInput | null;
}

@InputType()
export class VerifyConsentInput {
  @Field(() => ID)
  userId!: string;

  @Field(() => Channel)
  channel!: Channel;

  @Field(() => String)
  code!: string;
}

@InputType()
export class RevokeConsentInput {
  @Field(() => ID)
  userId!: string;

  @Field(() => Channel)
  channel!: Channel;

  @Field(() => [String], {
    nullable: true,
    description: 'Type keys; none = the whole channel, transactional and critical included',
  })
  types?: string[] | null;

  @Field(() => String, { nullable: true })
  reason?: string | null;
}
