import { Arg, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import { DeliveryEvent, Message } from '../entities';
import type { GraphQLContext } from './context';
import { MessageError } from './types/payloads.type';

@Resolver(() => Message)
export class MessageResolver {
  @Query(() => Message, { nullable: true })
  message(@Arg('id', () => ID) id: string, @Ctx() { caller, services }: GraphQLContext) {
    return services.queries.message(caller, id);
  }

  @FieldResolver(() => MessageError, {
    nullable: true,
    description: 'Why a message is FAILED or SUPPRESSED (or the last retryable error)',
  })
  error(@Root() message: Message): MessageError | null {
    return message.errorCode
      ? { code: message.errorCode, message: message.errorMessage ?? message.errorCode }
      : null;
  }

  @FieldResolver(() => [DeliveryEvent], {
    description: 'Every status change and provider event, oldest first',
  })
  events(@Root() message: Message, @Ctx() { loaders }: GraphQLContext) {
    return loaders.eventsOfMessage.load(message.id);
  }
}
