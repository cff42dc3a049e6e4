import { Field, ID, InputType } from 'type-graphql';
import { Channel, NotificationStatus } from '../../entities/enums';

@InputType()
export class NotificationFilter {
  @Field(() => ID, { nullable: true })
  userId?: string | null;

  @Field(() => NotificationStatus, { nullable: true })
  status?: NotificationStatus | null;

  @Field(() => Channel, {
    nullable: true,
    description: 'Notifications with at least one message on this channel',
  })
  channel?: Channel | null;

  @Field(() => String, { nullable: true, description: 'Notification type key' })
  type?: string | null;
}
