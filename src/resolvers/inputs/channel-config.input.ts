import { Field, InputType, Int } from 'type-graphql';
import { Channel } from '../../entities/enums';

@InputType({ description: 'Where a config sends from; which fields apply depends on the provider' })
export class ChannelConfigSendersInput {
  @Field(() => String, { nullable: true, description: 'twilio-sms, sns: E.164 sender number' })
  fromNumber?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'twilio-sms: Messaging Service SID (MG…), instead of fromNumber',
  })
  messagingServiceSid?: string | null;

  @Field(() => String, { nullable: true, description: 'twilio-whatsapp: E.164 WhatsApp sender' })
  whatsappFrom?: string | null;

  @Field(() => String, { nullable: true, description: 'sendgrid, ses: sender email address' })
  fromEmail?: string | null;

  @Field(() => String, { nullable: true, description: 'fcm: Firebase project id' })
  projectId?: string | null;
}

@InputType({ description: 'Account identifiers, stored and shown in clear' })
export class ChannelConfigIdentifiersInput {
  @Field(() => String, { nullable: true, description: 'twilio-*: account SID (AC…)' })
  accountSid?: string | null;

  @Field(() => String, { nullable: true, description: 'ses, sns: AWS access key id' })
  accessKeyId?: string | null;

  @Field(() => String, { nullable: true, description: 'ses, sns: AWS region' })
  region?: string | null;

  @Field(() => String, { nullable: true, description: "fcm: the service account's client_email" })
  clientEmail?: string | null;

  @Field(() => String, {
    nullable: true,
    description: "sendgrid: the Signed Event Webhook's public key (base64 DER or PEM)",
  })
  webhookPublicKey?: string | null;
}

@InputType({
  description:
    'Secrets: encrypted at rest, answered as "***". On update, a secret given replaces the stored one and one left out is kept',
})
export class ChannelConfigCredentialsInput {
  @Field(() => String, { nullable: true, description: 'twilio-*: auth token' })
  authToken?: string | null;

  @Field(() => String, { nullable: true, description: 'sendgrid: API key' })
  apiKey?: string | null;

  @Field(() => String, { nullable: true, description: "fcm: the service account's private_key (PEM)" })
  privateKey?: string | null;

  @Field(() => String, { nullable: true, description: 'ses, sns: AWS secret access key' })
  secretAccessKey?: string | null;
}

@InputType()
export class CreateChannelConfigInput {
  @Field(() => String, { description: 'Unique within the tenant, at most 100 characters' })
  name!: string;

  @Field(() => Channel)
  channel!: Channel;

  @Field(() => String, { description: 'twilio-sms, twilio-whatsapp, sendgrid, fcm, ses or sns' })
  provider!: string;

  @Field(() => Boolean, {
    nullable: true,
    description: 'Default true; a config that fails validation is stored inactive',
  })
  active?: boolean | null;

  @Field(() => Int, {
    nullable: true,
    description: "Order among the tenant's configs of the channel, lowest first (0–1000, default 0)",
  })
  position?: number | null;

  @Field(() => ChannelConfigSendersInput, { nullable: true })
  senders?: ChannelConfigSendersInput | null;

  @Field(() => ChannelConfigIdentifiersInput, { nullable: true })
  identifiers?: ChannelConfigIdentifiersInput | null;

  @Field(() => ChannelConfigCredentialsInput, { nullable: true })
  credentials?: ChannelConfigCredentialsInput | null;
}

@InputType({
  description: 'A field left out is kept. Channel and provider cannot change: create another config',
})
export class UpdateChannelConfigInput {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => Boolean, { nullable: true, description: 'Activating re-validates the account' })
  active?: boolean | null;

  @Field(() => Int, { nullable: true })
  position?: number | null;

  @Field(() => ChannelConfigSendersInput, { nullable: true })
  senders?: ChannelConfigSendersInput | null;

  @Field(() => ChannelConfigIdentifiersInput, { nullable: true })
  identifiers?: ChannelConfigIdentifiersInput | null;

  @Field(() => ChannelConfigCredentialsInput, { nullable: true })
  credentials?: ChannelConfigCredentialsInput | null;
}
