import { Entity, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Field, ObjectType } from 'type-graphql';
import { randomUUID } from 'node:crypto';

/** How to reach one user: one row per tenant × user. Timezone and locale live here only (CONTRACT.md). */
@ObjectType()
@Entity({ tableName: 'contact_info' })
@Unique({ properties: ['tenantId', 'userId'] })
export class ContactInfo {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  @Field()
  @Property({ type: 'text' })
  userId!: string;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  email?: string | null;

  @Field(() => String, { nullable: true, description: 'E.164' })
  @Property({ type: 'text', nullable: true })
  phone?: string | null;

  @Field(() => String, { nullable: true, description: 'E.164 number used for WhatsApp' })
  @Property({ type: 'text', nullable: true })
  whatsapp?: string | null;

  @Field(() => String, { nullable: true, description: 'BCP 47, e.g. "pt-BR"' })
  @Property({ type: 'text', nullable: true })
  locale?: string | null;

  @Field(() => String, { nullable: true, description: 'IANA time zone, e.g. "America/Sao_Paulo"' })
  @Property({ type: 'text', nullable: true })
  timezone?: string | null;

  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();

  @Field()
  @Property({ type: 'timestamptz', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}
