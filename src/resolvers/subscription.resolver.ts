import { Args, ArgsType, Field, ID, Resolver, Root, Subscription } from 'type-graphql';
import type { SubscribeResolverData } from 'type-graphql';
import { MessageStatus } from '../entities/enums';
import type { MessageStatusPayload } from '../pubsub/pubsub';
import { BadUserInputError } from '../services/errors';
import { statusStream } from '../services/status-stream';
import type { GraphQLContext } from './context';
import { MessageStatusEvent } from './types/payloads.type';

@ArgsType()
class MessageStatusArgs {
  @Field(() => ID, { nullable: true })
  notificationId?: string | null;

  @Field(() => ID, { nullable: true })
  userId?: string | null;
}

@Resolver()
export class SubscriptionResolver {
  @Subscription(() => MessageStatusEvent, {
    description:
      "Status changes of the caller's tenant, by notification and/or user. By notificationId it first emits the current status of each message.",
    subscribe: ({ args, context }: SubscribeResolverData<unknown, MessageStatusArgs, GraphQLContext>) => {
      if (!args.notificationId && !args.userId) {
        throw new BadUserInputError('notificationId or userId: give at least one', 'notificationId');
      }
      const { services, caller } = context;
      return statusStream(services.deps, services.queries, services.subscriptions, caller, args);
    },
  })
  messageStatusChanged(
    @Root() payload: MessageStatusPayload,
    @Args(() => MessageStatusArgs) _args: MessageStatusArgs,
  ): MessageStatusEvent {
    return {
      message: payload.message as never,
      notificationId: payload.notificationId,
      userId: payload.userId,
      status: payload.status as MessageStatus,
      previousStatus: payload.previousStatus as MessageStatus | null,
      occurredAt: payload.occurredAt,
    };
  }
}
