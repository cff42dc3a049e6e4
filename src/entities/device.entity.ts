import { Entity, Enum, Index, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
import { randomUUID } from 'node:crypto';
import { DevicePlatform } from './enums';

/** A push token. Deactivated (not deleted) when unregistered or when FCM reports it UNREGISTERED. */
@ObjectType()
@Entity({ tableName: 'device' })
@Unique({ properties: ['tenantId', 'token'] })
@Index({ properties: ['tenantId', 'userId'] })
export class Device {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  @Field()
  @Property({ type: 'text' })
  userId!: string;

  @Field()
  @Property({ type: 'text' })
  token!: string;

  @Field(() => DevicePlatform, { nullable: true })
  @Enum({ items: () => DevicePlatform, nativeEnumName: undefined, nullable: true })
  platform?: DevicePlatform | null;

  @Field()
  @Property({ type: 'boolean' })
  active: boolean = true;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  deactivatedReason?: string | null;

  @Field()
  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();

  @Field()
  @Property({ type: 'timestamptz', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}
