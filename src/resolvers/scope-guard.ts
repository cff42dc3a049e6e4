import { defaultFieldResolver, type GraphQLResolveInfo } from 'graphql';
import type { GraphQLContext } from './context';
import { OPERATION_SCOPES, requireScope, type ScopeRule } from './scopes';

type FieldResolver = (
  source: unknown,
  args: unknown,
  context: GraphQLContext,
  info: GraphQLResolveInfo,
) => unknown;
type ReferenceResolver = (reference: unknown, context: GraphQLContext, info: GraphQLResolveInfo) => unknown;
type FieldEntry = FieldResolver | { subscribe?: FieldResolver; resolve?: FieldResolver };
export type ResolversMap = Record<string, Record<string, unknown>>;

/**
 * Wraps every resolver named in OPERATION_SCOPES with its scope check, in the resolvers map the subgraph schema is
 * built from. HTTP, graphql-ws and the gateway's `_entities` all execute that one schema, so one table guards all
 * three: root fields (and a subscription's `subscribe`, before any stream opens), the User comms fields and the
 * entities' `__resolveReference` (checked per representation, so one forbidden entity fails only its own index).
 */
export function guardResolvers(resolvers: ResolversMap): ResolversMap {
  const guarded: ResolversMap = {};
  for (const [typeName, fields] of Object.entries(resolvers)) guarded[typeName] = { ...fields };
  for (const [key, rule] of Object.entries(OPERATION_SCOPES)) {
    if (rule.length === 0) continue;
    const [typeName, field] = key.split('.') as [string, string];
    const fields = (guarded[typeName] ??= {});
    if (field === '__resolveReference') {
      const resolve = fields[field] as ReferenceResolver | undefined;
      if (!resolve) throw new Error(`scope table names ${key}, which has no resolver`);
      fields[field] = guardReference(typeName, rule, resolve);
    } else {
      fields[field] = guardField(key, rule, fields[field] as FieldEntry | undefined);
    }
  }
  return guarded;
}

function guardField(operation: string, rule: ScopeRule, entry: FieldEntry | undefined): FieldEntry {
  const check =
    (resolve: FieldResolver): FieldResolver =>
    (source, args, context, info) => {
      requireScope(context.caller, operation, rule);
      return resolve(source, args, context, info);
    };
  if (typeof entry === 'object' && entry.subscribe) {
    return { ...entry, subscribe: check(entry.subscribe) };
  }
  return check((typeof entry === 'function' ? entry : undefined) ?? (defaultFieldResolver as FieldResolver));
}

function guardReference(typeName: string, rule: ScopeRule, resolve: ReferenceResolver): ReferenceResolver {
  return (reference, context, info) => {
    requireScope(context.caller, `${typeName} (_entities)`, rule);
    return resolve(reference, context, info);
  };
}
