import { Arg, Ctx, Field, Float, InputType, Int, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from './context';

@ObjectType({ description: "A tenant's default sender per channel; null = the provider account's own" })
export class DefaultSendersView {
  @Field(() => String, { nullable: true, description: 'Email from address' })
  email!: string | null;

  @Field(() => String, { nullable: true, description: 'E.164 number or Twilio messaging service SID (MG…)' })
  sms!: string | null;

  @Field(() => String, { nullable: true, description: 'E.164 number of the WhatsApp sender' })
  whatsapp!: string | null;
}

@ObjectType({
  description:
    "The caller's tenant: budgets (USD, UTC day and month) and what it has spent, time zone, default senders, retention and shared providers",
})
export class TenantSettingsView {
  @Field(() => Float, { nullable: true, description: 'null = no daily cap' })
  dailyBudget!: number | null;

  @Field(() => Float, { nullable: true, description: 'null = no monthly cap' })
  monthlyBudget!: number | null;

  @Field({ description: 'Whether CRITICAL sends go out over budget' })
  criticalBypassesBudget!: boolean;

  @Field(() => Float)
  spentToday!: number;

  @Field(() => Float)
  spentThisMonth!: number;

  @Field({ description: "IANA time zone of the tenant's days (analytics); UTC when unset" })
  timezone!: string;

  @Field(() => DefaultSendersView)
  defaultSenders!: DefaultSendersView;

  @Field(() => Int, {
    nullable: true,
    description:
      'Days messages are kept (purged by a later issue); null = kept. The audit trail is not affected.',
  })
  dataRetentionDays!: number | null;

  @Field(() => Int, { nullable: true, description: 'Days audit rows are kept; null (default) = forever' })
  auditRetentionDays!: number | null;

  @Field({
    description:
      'Whether the service-wide provider accounts send for this tenant after its own channel configs (default true)',
  })
  useSharedProviders!: boolean;
}

@InputType({ description: 'A channel left out is kept; null clears it' })
export class DefaultSendersInput {
  @Field(() => String, { nullable: true, description: 'Email from address' })
  email?: string | null;

  @Field(() => String, { nullable: true, description: 'E.164 number or Twilio messaging service SID (MG…)' })
  sms?: string | null;

  @Field(() => String, { nullable: true, description: 'E.164 number (a whatsapp: prefix is dropped)' })
  whatsapp?: string | null;
}

@InputType({ description: 'A field left out is kept; null returns it to the service default' })
export class TenantSettingsInput {
  @Field(() => Float, { nullable: true })
  dailyBudget?: number | null;

  @Field(() => Float, { nullable: true })
  monthlyBudget?: number | null;

  @Field(() => Boolean, { nullable: true })
  criticalBypassesBudget?: boolean | null;

  @Field(() => String, { nullable: true, description: 'IANA time zone name, e.g. Europe/Lisbon' })
  timezone?: string | null;

  @Field(() => DefaultSendersInput, { nullable: true, description: 'Merged per channel; null clears all' })
  defaultSenders?: DefaultSendersInput | null;

  @Field(() => Int, { nullable: true, description: '1–36,500 days; null = keep' })
  dataRetentionDays?: number | null;

  @Field(() => Int, { nullable: true, description: '1–36,500 days; null = keep forever' })
  auditRetentionDays?: number | null;

  @Field(() => Boolean, { nullable: true, description: 'null = the default, true' })
  useSharedProviders?: boolean | null;
}

@Resolver()
export class TenantSettingsResolver {
  @Query(() => TenantSettingsView)
  tenantSettings(@Ctx() { caller, services }: GraphQLContext) {
    return services.tenantSettings.view(caller);
  }

  @Mutation(() => TenantSettingsView, { description: 'Writes one audit row (entity tenantSettings)' })
  updateTenantSettings(
    @Arg('input', () => TenantSettingsInput) input: TenantSettingsInput,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.tenantSettings.update(caller, input);
  }
}
