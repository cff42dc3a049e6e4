import { Entity, Enum, Index, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { randomUUID } from 'node:crypto';
import { Channel } from './enums';

export enum ConsentStatus {
  GRANTED = 'GRANTED',
  PENDING_VERIFICATION = 'PENDING_VERIFICATION',
  REVOKED = 'REVOKED',
}
registerEnumType(ConsentStatus, { name: 'ConsentStatus' });

/** Stored type of a consent that covers the whole channel (every type, transactional and critical included). */
export const WHOLE_CHANNEL = '*';

/** Current consent per user × channel × type (or the whole channel). Derived from the append-only ConsentEvent log. */
@ObjectType()
@Entity({ tableName: 'consent' })
@Unique({ properties: ['tenantId', 'userId', 'channel', 'typeKey'] })
export class Consent {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  @Field(() => ID)
  @Property({ type: 'text' })
  userId!: string;

  @Field(() => Channel)
  @Enum({ items: () => Channel })
  channel!: Channel;

  /** A notification type key, or WHOLE_CHANNEL. */
  @Property({ type: 'text' })
  typeKey!: string;

  @Field(() => ConsentStatus)
  @Enum({ items: () => ConsentStatus })
  status!: ConsentStatus;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  source?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'The address the consent was given for (double opt-in)',
  })
  @Property({ type: 'text', nullable: true })
  address?: string | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  grantedAt?: Date | null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  revokedAt?: Date | null;

  @Field()
  @Property({ type: 'timestamptz' })
  updatedAt!: Date;
}

/** The append-only ledger: every grant, verification, failed attempt and revocation, with its proof. */
@ObjectType()
@Entity({ tableName: 'consent_event' })
@Index({ properties: ['tenantId', 'userId', 'occurredAt'] })
@Index({ properties: ['tenantId', 'userId', 'seq'] })
export class ConsentEvent {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  @Field(() => ID)
  @Property({ type: 'text' })
  userId!: string;

  @Field(() => Channel)
  @Enum({ items: () => Channel })
  channel!: Channel;

  @Property({ type: 'text' })
  typeKey!: string;

  /** GRANT, VERIFY, VERIFY_FAILED, LOCKED, EXPIRED, REVOKE */
  @Field()
  @Property({ type: 'text' })
  action!: string;

  @Field(() => ConsentStatus, { nullable: true, description: 'The status it left, when it changed one' })
  @Enum({ items: () => ConsentStatus, nullable: true })
  status?: ConsentStatus | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  source?: string | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  reason?: string | null;

  @Field(() => GraphQLJSON, {
    nullable: true,
    description: 'ip, userAgent, the disclosure text and its version',
  })
  @Property({ type: 'json', nullable: true })
  proof?: Record<string, unknown> | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  address?: string | null;

  @Field()
  @Property({ type: 'timestamptz' })
  occurredAt!: Date;

  /**
   * Database wall time of the insert (clock_timestamp()), which recordConsent makes after the consent row's lock: when
   * the entry was applied. Set by PostgreSQL, so undefined on an entity not read back.
   */
  @Field({
    description:
      'When Herald applied the entry (database time, after the consent row lock); consentHistory is in applied order',
  })
  @Property({ type: 'timestamptz', defaultRaw: 'clock_timestamp()' })
  recordedAt?: Date;

  /**
   * Applied order (a PostgreSQL identity taken at the insert, after the consent row lock; Migration20261221090000):
   * consentHistory's order. Unlike recordedAt it never ties and never follows the wall clock back.
   */
  @Property({ type: 'bigint', autoincrement: true, nullable: true })
  seq?: string;
}

/** A pending double opt-in: the code is stored hashed, expires, and allows a bounded number of tries. */
@Entity({ tableName: 'consent_verification' })
@Index({ properties: ['tenantId', 'userId', 'channel'] })
export class ConsentVerification {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  @Property({ type: 'text' })
  userId!: string;

  @Enum({ items: () => Channel })
  channel!: Channel;

  @Property({ type: 'text' })
  address!: string;

  @Property({ type: 'json' })
  typeKeys!: string[];

  @Property({ type: 'text' })
  codeHash!: string;

  @Property({ type: 'text' })
  salt!: string;

  @Property({ type: 'timestamptz' })
  expiresAt!: Date;

  @Property({ type: 'integer' })
  attemptsLeft!: number;

  /** PENDING, VERIFIED, LOCKED, EXPIRED, SUPERSEDED */
  @Property({ type: 'text' })
  state!: string;

  @Property({ type: 'json', nullable: true })
  proof?: Record<string, unknown> | null;

  @Property({ type: 'text', nullable: true })
  source?: string | null;

  @Property({ type: 'timestamptz' })
  createdAt!: Date;
}
