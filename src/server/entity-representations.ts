import {
  isUnionType,
  Kind,
  type GraphQLFieldResolver,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import { BadUserInputError } from '../services/errors';

/**
 * The key fields of every entity (the `_Entity` union, i.e. the types with `@key`), from the `fields` argument of
 * their `@key` directives: `{ User: ['id'], ... }`. Only flat keys are supported (every key of this subgraph is
 * `id`); a nested key throws at startup rather than going unchecked.
 */
export function entityKeyFields(schema: GraphQLSchema): Map<string, string[]> {
  const union = schema.getType('_Entity');
  const keys = new Map<string, string[]>();
  if (!isUnionType(union)) return keys;
  for (const type of union.getTypes()) keys.set(type.name, keyFieldsOf(type));
  return keys;
}

function keyFieldsOf(type: GraphQLObjectType): string[] {
  const fields = new Set<string>();
  for (const node of [type.astNode, ...type.extensionASTNodes]) {
    for (const directive of node?.directives ?? []) {
      if (directive.name.value !== 'key') continue;
      const argument = directive.arguments?.find((a) => a.name.value === 'fields');
      if (argument?.value.kind !== Kind.STRING || /[{}()]/.test(argument.value.value)) {
        throw new Error(`@key of ${type.name}: only flat key field lists are supported`);
      }
      for (const field of argument.value.value.split(/[\s,]+/).filter(Boolean)) fields.add(field);
    }
  }
  if (fields.size === 0) throw new Error(`entity ${type.name} has no @key fields`);
  return [...fields];
}

/**
 * What is wrong with representation `index` of `_entities(representations:)`, or undefined when it names an entity
 * type and carries each of its key fields as a non-empty string (an `ID` as the gateway serializes it). Federation 2
 * subgraph spec: a representation is an object with `__typename` and the fields of one of the type's `@key`s.
 */
export function representationProblem(
  representation: unknown,
  index: number,
  keys: ReadonlyMap<string, string[]>,
): string | undefined {
  const at = `representations[${index}]`;
  const known = [...keys.keys()].sort().join(', ');
  if (representation === null || typeof representation !== 'object' || Array.isArray(representation)) {
    return `${at}: must be an object with "__typename" (one of ${known}) and its key fields`;
  }
  const typename = (representation as { __typename?: unknown }).__typename;
  if (typeof typename !== 'string') {
    return `${at}.__typename: must be a string naming an entity type (one of ${known})`;
  }
  const keyFields = keys.get(typename);
  if (!keyFields) return `${at}: unknown entity type "${typename}" (entity types: ${known})`;
  for (const field of keyFields) {
    const value = (representation as Record<string, unknown>)[field];
    if (value === undefined || value === null) return `${at}: missing key field "${field}" of ${typename}`;
    if (typeof value !== 'string' || value.length === 0) {
      return `${at}.${field}: the key field "${field}" of ${typename} must be a non-empty string (ID)`;
    }
  }
  return undefined;
}

/**
 * Wraps `Query._entities` of a built subgraph schema so every representation is checked before any resolver runs.
 * A malformed one (unknown or missing `__typename`, a missing key field, not an object) becomes a BAD_USER_INPUT
 * error at its own index, `field: representations[i]`; the well-formed ones are resolved as before. Without it,
 * @apollo/subgraph throws a plain Error that is answered as INTERNAL_SERVER_ERROR.
 */
export function guardEntityRepresentations(schema: GraphQLSchema): void {
  const field = schema.getQueryType()?.getFields()._entities;
  if (!field?.resolve) return;
  const keys = entityKeyFields(schema);
  const resolve: GraphQLFieldResolver<unknown, unknown> = field.resolve;
  field.resolve = (source, args: { representations?: unknown }, context, info) => {
    const representations = Array.isArray(args.representations) ? (args.representations as unknown[]) : [];
    const problems = representations.map((representation, index) =>
      representationProblem(representation, index, keys),
    );
    if (problems.every((problem) => problem === undefined)) return resolve(source, args, context, info);
    const valid = representations.filter((_, index) => problems[index] === undefined);
    const resolved =
      valid.length > 0
        ? (resolve(source, { ...args, representations: valid }, context, info) as unknown[])
        : [];
    let next = 0;
    // graphql-js completes an Error list item as that item's error (path `_entities.i`), leaving the others intact.
    return problems.map((problem, index) =>
      problem === undefined ? resolved[next++] : new BadUserInputError(problem, `representations[${index}]`),
    );
  };
}
