import { Arg, Ctx, Field, ID, Int, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import { Channel } from '../entities/enums';
import type { GraphQLContext } from './context';
import { CreateChannelConfigInput, UpdateChannelConfigInput } from './inputs/channel-config.input';

@ObjectType()
export class ChannelConfigSenders {
  @Field(() => String, { nullable: true })
  fromNumber?: string | null;
  @Field(() => String, { nullable: true })
  messagingServiceSid?: string | null;
  @Field(() => String, { nullable: true })
  whatsappFrom?: string | null;
  @Field(() => String, { nullable: true })
  fromEmail?: string | null;
  @Field(() => String, { nullable: true })
  projectId?: string | null;
}

@ObjectType()
export class ChannelConfigIdentifiers {
  @Field(() => String, { nullable: true })
  accountSid?: string | null;
  @Field(() => String, { nullable: true })
  accessKeyId?: string | null;
  @Field(() => String, { nullable: true })
  region?: string | null;
  @Field(() => String, { nullable: true })
  clientEmail?: string | null;
  @Field(() => String, { nullable: true })
  webhookPublicKey?: string | null;
}

@ObjectType({ description: 'Each secret is "***" when set and null when not: never its value' })
export class ChannelConfigCredentials {
  @Field(() => String, { nullable: true })
  authToken!: string | null;
  @Field(() => String, { nullable: true })
  apiKey!: string | null;
  @Field(() => String, { nullable: true })
  privateKey!: string | null;
  @Field(() => String, { nullable: true })
  secretAccessKey!: string | null;
}

@ObjectType({
  description:
    "The vendor's answer when the account was last checked (create, update, activation) or refused at send time",
})
export class ChannelConfigValidation {
  @Field(() => Boolean, {
    nullable: true,
    description:
      'null = never checked; false also when the vendor refused the account at send time (error "refused at send (…)"), until a send through the config succeeds',
  })
  ok!: boolean | null;
  @Field(() => Date, { nullable: true })
  checkedAt!: Date | null;
  @Field(() => String, { nullable: true, description: "The vendor's refusal, e.g. 401: Authenticate" })
  error!: string | null;
}

@ObjectType({ description: "A tenant's own provider account for one channel" })
export class ChannelConfigView {
  @Field(() => ID)
  id!: string;
  @Field(() => String)
  name!: string;
  @Field(() => Channel)
  channel!: Channel;
  @Field(() => String)
  provider!: string;
  @Field(() => Boolean)
  active!: boolean;
  @Field(() => Int)
  position!: number;
  @Field(() => ChannelConfigSenders)
  senders!: ChannelConfigSenders;
  @Field(() => ChannelConfigIdentifiers)
  identifiers!: ChannelConfigIdentifiers;
  @Field(() => ChannelConfigCredentials)
  credentials!: ChannelConfigCredentials;
  @Field(() => [String], { description: "Callback URLs to give the vendor for this account's events" })
  webhookUrls!: string[];
  @Field(() => ChannelConfigValidation)
  validation!: ChannelConfigValidation;
  @Field(() => Int, { description: 'Grows on every change' })
  version!: number;
  @Field(() => Date)
  createdAt!: Date;
  @Field(() => Date)
  updatedAt!: Date;
}

@Resolver()
export class ChannelConfigResolver {
  @Query(() => [ChannelConfigView], {
    description: "The caller's tenant's channel configs, by channel and position",
  })
  channelConfigs(@Ctx() { caller, services }: GraphQLContext) {
    return services.channelConfigs.list(caller);
  }

  @Query(() => ChannelConfigView, {
    nullable: true,
    description: "null when the id is not one of the tenant's",
  })
  channelConfig(@Arg('id', () => ID) id: string, @Ctx() { caller, services }: GraphQLContext) {
    return services.channelConfigs.get(caller, id);
  }

  @Mutation(() => ChannelConfigView, {
    description: 'Stores a config and asks the vendor whether it works; one that does not is stored inactive',
  })
  createChannelConfig(
    @Arg('input', () => CreateChannelConfigInput) input: CreateChannelConfigInput,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.channelConfigs.create(caller, input);
  }

  @Mutation(() => ChannelConfigView, { description: "NOT_FOUND when the id is not one of the tenant's" })
  updateChannelConfig(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateChannelConfigInput) input: UpdateChannelConfigInput,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.channelConfigs.update(caller, id, input);
  }

  @Mutation(() => Boolean, {
    description:
      "Removes the config from the API and from routing at once; its webhook paths keep applying the vendor's reports for DELETED_CHANNEL_CONFIG_WEBHOOK_DAYS (default 30), then it is purged. NOT_FOUND when the id is not one of the tenant's (or already deleted)",
  })
  async deleteChannelConfig(@Arg('id', () => ID) id: string, @Ctx() { caller, services }: GraphQLContext) {
    return services.channelConfigs.delete(caller, id);
  }
}
