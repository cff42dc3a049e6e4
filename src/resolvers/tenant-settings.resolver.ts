import { Arg, Ctx, Field, Float, InputType, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from './context';

@ObjectType({ description: "The caller's tenant: budgets (USD, UTC day and month) and what it has spent" })
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
}

@InputType({ description: 'A field left out is kept; null returns it to the service default' })
export class TenantSettingsInput {
  @Field(() => Float, { nullable: true })
  dailyBudget?: number | null;

  @Field(() => Float, { nullable: true })
  monthlyBudget?: number | null;

  @Field(() => Boolean, { nullable: true })
  criticalBypassesBudget?: boolean | null;
}

@Resolver()
export class TenantSettingsResolver {
  @Query(() => TenantSettingsView)
  tenantSettings(@Ctx() { caller, services }: GraphQLContext) {
    return services.budgets.view(caller);
  }

  @Mutation(() => TenantSettingsView)
  updateTenantSettings(
    @Arg('input', () => TenantSettingsInput) input: TenantSettingsInput,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.budgets.update(caller, input);
  }
}
