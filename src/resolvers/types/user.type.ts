import { Directive, Field, ID, ObjectType } from 'type-graphql';

/** The gateway's User, extended with Herald's communication fields (contact, devices, notifications). */
@Directive('@key(fields: "id")')
@ObjectType()
export class User {
  @Field(() => ID)
  id!: string;
}
