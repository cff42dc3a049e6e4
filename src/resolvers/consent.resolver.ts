import {
  Arg,
  Ctx,
  FieldResolver,
  ID,
  Mutation,
  ObjectType,
  Field,
  Query,
  Resolver,
  Root,
} from 'type-graphql';
import { Channel, Priority } from '../entities/enums';
import { Consent, ConsentEvent, WHOLE_CHANNEL } from '../entities/consent.entity';
import type { GraphQLContext } from './context';
import { GrantConsentInput, RevokeConsentInput, VerifyConsentInput } from './inputs/consent.input';

@ObjectType()
export class ConsentCheck {
  @Field()
  canSend!: boolean;

  @Field({
    description:
      'explicit_consent, transactional_allowed, opted_out, no_consent, pending_verification, suppressed_address, channel_disabled, type_disabled, no_address',
  })
  reason!: string;
}

@Resolver(() => Consent)
export class ConsentResolver {
  @Mutation(() => [Consent], {
    description: 'SMS and WhatsApp grants are PENDING_VERIFICATION until verifyConsent',
  })
  grantConsent(
    @Arg('input', () => GrantConsentInput) input: GrantConsentInput,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.consents.grant(caller, input);
  }

  @Mutation(() => [Consent])
  verifyConsent(
    @Arg('input', () => VerifyConsentInput) input: VerifyConsentInput,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.consents.verify(caller, input);
  }

  @Mutation(() => [Consent])
  revokeConsent(
    @Arg('input', () => RevokeConsentInput) input: RevokeConsentInput,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.consents.revoke(caller, input);
  }

  @Query(() => ConsentCheck, {
    description: 'Whether a message of this type may go to the user on the channel now, and why',
  })
  async checkConsent(
    @Arg('userId', () => ID) userId: string,
    @Arg('channel', () => Channel) channel: Channel,
    @Arg('type', () => String) type: string,
    @Ctx() { caller, services }: GraphQLContext,
    @Arg('priority', () => Priority, { nullable: true }) priority?: Priority,
  ): Promise<ConsentCheck> {
    return services.policy.check(caller, { userId, channel, typeKey: type, priority: priority ?? undefined });
  }

  @FieldResolver(() => String, { nullable: true, description: 'The type key; null = the whole channel' })
  type(@Root() consent: Consent): string | null {
    return consent.typeKey === WHOLE_CHANNEL ? null : consent.typeKey;
  }
}

@Resolver(() => ConsentEvent)
export class ConsentEventResolver {
  @FieldResolver(() => String, { nullable: true, description: 'The type key; null = the whole channel' })
  type(@Root() event: ConsentEvent): string | null {
    return event.typeKey === WHOLE_CHANNEL ? null : event.typeKey;
  }
}
