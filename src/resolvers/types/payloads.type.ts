import { Field, Float, ID, Int, ObjectType } from 'type-graphql';
import { Channel } from '../../entities/enums';
import { Message, Notification } from '../../entities';
import { MessageStatus } from '../../entities/enums';

@ObjectType()
export class SendNotificationPayload {
  @Field(() => Notification)
  notification!: Notification;
}

@ObjectType()
export class MessageError {
  @Field({
    description:
      'Vendor code (21211, UNREGISTERED…) or Herald reason (no_address, MAX_ATTEMPTS, TEMPLATE_ERROR, TEMPLATE_LIMIT…)',
  })
  code!: string;

  @Field()
  message!: string;
}

@ObjectType()
export class PageInfo {
  @Field(() => String, { nullable: true })
  endCursor!: string | null;

  @Field()
  hasNextPage!: boolean;
}

@ObjectType()
export class NotificationEdge {
  @Field()
  cursor!: string;

  @Field(() => Notification)
  node!: Notification;
}

@ObjectType()
export class NotificationConnection {
  @Field(() => [NotificationEdge])
  edges!: NotificationEdge[];

  @Field(() => [Notification])
  nodes!: Notification[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@ObjectType()
export class MessageStatusEvent {
  @Field(() => Message)
  message!: Message;

  @Field(() => ID)
  notificationId!: string;

  @Field(() => ID)
  userId!: string;

  @Field(() => MessageStatus)
  status!: MessageStatus;

  @Field(() => MessageStatus, { nullable: true })
  previousStatus!: MessageStatus | null;

  @Field(() => Date)
  occurredAt!: Date | string;
}

@ObjectType()
export class ProviderInfo {
  @Field()
  id!: string;

  @Field(() => Channel)
  channel!: Channel;

  @Field()
  configured!: boolean;

  @Field()
  sandbox!: boolean;

  @Field({ description: 'Configured and its circuit is not open' })
  healthy!: boolean;

  @Field(() => String, {
    nullable: true,
    description: 'closed, open or half-open, as every process sees it; null when not configured',
  })
  circuit!: string | null;

  @Field(() => Float, {
    nullable: true,
    description:
      'Share of sends that failed retryably over the last minute, across processes; null = no sends',
  })
  errorRate!: number | null;

  @Field(() => Int, {
    nullable: true,
    description: "Position in the channel's order, 0 = primary; null = unused",
  })
  priority!: number | null;

  @Field(() => Date, { nullable: true, description: 'When an open circuit lets a trial request through' })
  openUntil!: Date | null;
}

@ObjectType()
export class BatchError {
  @Field()
  code!: string;

  @Field()
  message!: string;
}

@ObjectType()
export class BatchResult {
  @Field(() => Int, { description: 'Position of the input in `inputs`' })
  index!: number;

  @Field(() => Notification, { nullable: true })
  notification?: Notification;

  @Field(() => BatchError, { nullable: true })
  error?: BatchError;
}

@ObjectType()
export class BatchSummary {
  @Field(() => Int)
  total!: number;

  @Field(() => Int)
  accepted!: number;

  @Field(() => Int)
  failed!: number;

  @Field(() => Float, {
    description: 'USD, the estimate of what the accepted sends will cost (see README "Cost")',
  })
  estimatedCost!: number;
}

@ObjectType()
export class BatchSendPayload {
  @Field(() => [BatchResult], { description: 'One per input, in input order' })
  results!: BatchResult[];

  @Field(() => BatchSummary)
  summary!: BatchSummary;
}
