import { Arg, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import { DeliveryEvent, Message, RenderedContent } from '../entities';
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

  @FieldResolver(() => RenderedContent, {
    nullable: true,
    description: 'What was handed to the provider, after rendering (null until a worker rendered it)',
  })
  content(@Root() message: Message, @Ctx() { loaders }: GraphQLContext) {
    // The column is lazy (megabytes for an email) and status events leave it out: read only when asked for.
    return message.content !== undefined ? message.content : loaders.contentOfMessage.load(message.id);
  }

  @FieldResolver(() => [DeliveryEvent], {
    description: 'Every status change and provider event, oldest first',
  })
  events(@Root() message: Message, @Ctx() { loaders }: GraphQLContext) {
    return loaders.eventsOfMessage.load(message.id);
  }
}
