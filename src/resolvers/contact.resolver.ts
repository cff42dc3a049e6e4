import { Arg, Ctx, ID, Mutation, Resolver } from 'type-graphql';
import { ContactInfo, Device } from '../entities';
import type { GraphQLContext } from './context';
import { ContactInput, RegisterDeviceInput } from './inputs/contact.input';

@Resolver()
export class ContactResolver {
  @Mutation(() => ContactInfo)
  updateContact(
    @Arg('userId', () => ID) userId: string,
    @Arg('input', () => ContactInput) input: ContactInput,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.contacts.updateContact(caller, userId, input);
  }

  @Mutation(() => Device)
  registerDevice(
    @Arg('input', () => RegisterDeviceInput) input: RegisterDeviceInput,
    @Ctx() { caller, services }: GraphQLContext,
  ) {
    return services.contacts.registerDevice(caller, input);
  }

  @Mutation(() => Boolean, { description: 'Deactivates the token; false when no active device had it' })
  unregisterDevice(@Arg('token', () => String) token: string, @Ctx() { caller, services }: GraphQLContext) {
    return services.contacts.unregisterDevice(caller, token);
  }
}
