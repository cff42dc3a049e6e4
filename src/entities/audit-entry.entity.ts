import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { randomUUID } from 'node:crypto';

/**
 * One change to a tenant's configuration or a user's choices, append-only: a PostgreSQL trigger refuses UPDATE,
 * DELETE and TRUNCATE on the table (Migration20261220130000), since the application connects as the table's owner and
 * grants alone would not hold. Written only through recordAudit (services/audit.service.ts), in the transaction of
 * the change it records. `before`/`after` never hold secrets.
 */
@ObjectType({ description: 'One recorded change: who, when, what (before/after), through which request' })
@Entity({ tableName: 'audit_log' })
@Index({ properties: ['tenantId', 'seq'] })
@Index({ properties: ['tenantId', 'entity', 'seq'] })
@Index({ properties: ['tenantId', 'actor', 'seq'] })
export class AuditEntry {
  @Field(() => ID)
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  @Field(() => String, {
    nullable: true,
    description:
      'The token subject (`sub`); `webhook:twilio`, `webhook:sendgrid`, `provider:twilio`, `provider:fcm` or ' +
      '`unsubscribe-link` for changes a vendor or recipient made; null for Herald itself and the development caller',
  })
  @Property({ type: 'text', nullable: true })
  actor?: string | null;

  @Field({ description: 'When the change was made (the same transaction)' })
  @Property({ type: 'timestamptz' })
  occurredAt!: Date;

  @Field({
    description:
      'consent, contact, device, preferences, notificationType, tenantSettings, notification (cancellations), channelConfig',
  })
  @Property({ type: 'text' })
  entity!: string;

  @Field({
    description:
      'The changed row: consent/device/notification/channelConfig id, the user id (contact, preferences), the type key, the tenant id (tenantSettings)',
  })
  @Property({ type: 'text' })
  entityId!: string;

  @Field({
    description:
      'create, update, delete, grant, request (pending double opt-in), verify, revoke, register, unregister, deactivate, reset, cancel',
  })
  @Property({ type: 'text' })
  action!: string;

  @Field(() => GraphQLJSON, {
    nullable: true,
    description: 'The entity before the change; null when created',
  })
  @Property({ type: 'json', nullable: true })
  before?: unknown;

  @Field(() => GraphQLJSON, { nullable: true, description: 'The entity after the change; null when deleted' })
  @Property({ type: 'json', nullable: true })
  after?: unknown;

  @Field(() => String, {
    nullable: true,
    description:
      "The request's id (x-request-id, else one Herald made); for a vendor's webhook, the stored event's key",
  })
  @Property({ type: 'text', nullable: true })
  requestId?: string | null;

  /** Insertion order (a PostgreSQL identity): auditLog pages newest first by it. */
  @Property({ type: 'bigint', autoincrement: true, nullable: true })
  seq?: string;
}
