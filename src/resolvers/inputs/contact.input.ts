import { Field, InputType } from 'type-graphql';
import { DevicePlatform } from '../../entities/enums';

@InputType({ description: 'A field left out is kept; null clears it.' })
export class ContactInput {
  @Field(() => String, { nullable: true })
  email?: string | null;

  @Field(() => String, { nullable: true, description: 'E.164' })
  phone?: string | null;

  @Field(() => String, { nullable: true, description: 'E.164' })
  whatsapp?: string | null;

  @Field(() => String, { nullable: true, description: 'BCP 47' })
  locale?: string | null;

  @Field(() => String, { nullable: true, description: 'IANA time zone' })
  timezone?: string | null;
}

@InputType()
export class RegisterDeviceInput {
  @Field(() => String)
  userId!: string;

  @Field(() => String)
  token!: string;

  @Field(() => DevicePlatform, { nullable: true })
  platform?: DevicePlatform | null;
}
