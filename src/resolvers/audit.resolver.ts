import { Arg, Ctx, Field, InputType, Int, ObjectType, Query, Resolver } from 'type-graphql';
import { AuditEntry } from '../entities';
import { encodeAuditCursor, type AuditPage } from '../services/audit-query.service';
import type { GraphQLContext } from './context';
import { PageInfo } from './types/payloads.type';

@InputType({ description: 'Each field given narrows the audit rows' })
export class AuditLogFilter {
  @Field(() => String, {
    nullable: true,
    description:
      'consent, contact, device, preferences, notificationType, tenantSettings, notification, channelConfig',
  })
  entity?: string | null;

  @Field(() => String, { nullable: true, description: 'The changed row (see AuditEntry.entityId)' })
  entityId?: string | null;

  @Field(() => String, { nullable: true, description: 'A token subject, or webhook:twilio, provider:fcm…' })
  actor?: string | null;

  @Field(() => Date, { nullable: true, description: 'occurredAt at or after' })
  from?: Date | null;

  @Field(() => Date, { nullable: true, description: 'occurredAt before' })
  to?: Date | null;
}

@ObjectType()
export class AuditEntryEdge {
  @Field()
  cursor!: string;

  @Field(() => AuditEntry)
  node!: AuditEntry;
}

@ObjectType()
export class AuditLogConnection {
  @Field(() => [AuditEntryEdge])
  edges!: AuditEntryEdge[];

  @Field(() => [AuditEntry])
  nodes!: AuditEntry[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

const toConnection = (page: AuditPage): AuditLogConnection => ({
  edges: page.nodes.map((node) => ({ cursor: encodeAuditCursor(node), node: node as AuditEntry })),
  nodes: page.nodes as AuditEntry[],
  pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage },
});

@Resolver()
export class AuditResolver {
  @Query(() => AuditLogConnection, {
    description:
      "The caller tenant's audit trail, newest first; cursor pagination (first ≤ 100). Export: GET /admin/audit.jsonl",
  })
  async auditLog(
    @Ctx() { caller, services }: GraphQLContext,
    @Arg('filter', () => AuditLogFilter, { nullable: true }) filter?: AuditLogFilter,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first?: number,
    @Arg('after', () => String, { nullable: true }) after?: string,
  ): Promise<AuditLogConnection> {
    return toConnection(await services.audit.page(caller, filter ?? {}, first ?? 20, after));
  }
}
