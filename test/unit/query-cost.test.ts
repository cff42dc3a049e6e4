import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
import {
  getIntrospectionQuery,
  getNamedType,
  getNullableType,
  isCompositeType,
  isListType,
  isObjectType,
  parse,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { checkQueryLimits, LIST_SIZES, operationCost } from '../../src/server/query-limits';

const schema = buildSubgraphSchema({
  typeDefs: parse(readFileSync(resolve(__dirname, '../../schema.graphql'), 'utf8')),
});
const LIMITS = { maxDepth: 10, maxAliases: 15, maxTokens: 2_000, maxCost: 10_000 };
const cost = (query: string, variables?: Record<string, unknown>) =>
  operationCost(schema, parse(query), variables);

describe('the list-size table of the cost estimate', () => {
  const listFields = Object.values(schema.getTypeMap())
    .filter(isObjectType)
    .filter((type) => !type.name.startsWith('__'))
    .flatMap((type) =>
      Object.values(type.getFields())
        .filter((f) => isListType(getNullableType(f.type)) && isCompositeType(getNamedType(f.type)))
        .map((f) => `${type.name}.${f.name}`),
    );

  it('prices every list of objects in schema.graphql, and only fields that exist', () => {
    expect(listFields.filter((key) => !(key in LIST_SIZES))).toEqual([]);
    const exists = (key: string) => {
      const [typeName, fieldName] = key.split('.');
      const type = schema.getType(typeName);
      return isObjectType(type) && fieldName in type.getFields();
    };
    expect(Object.keys(LIST_SIZES).filter((key) => !exists(key))).toEqual([]);
  });
});

describe('operation cost', () => {
  it('multiplies a page by its first argument, messages and events by their estimates', () => {
    // notifications: 100 × (1 + nodes: 1 × (1 + messages: 5 × (1 + events: 10 × 1)))
    expect(cost('{ notifications(first: 100) { nodes { id messages { id events { id } } } } }')).toBe(5_700);
    // The default page is 20; scalars of a loaded object are free.
    expect(cost('{ notifications { nodes { id type status createdAt } } }')).toBe(40);
    expect(cost('query ($n: Int) { notifications(first: $n) { nodes { id } } }', { n: 7 })).toBe(14);
  });

  it('clamps first to the largest page the resolver serves (it refuses more itself)', () => {
    expect(cost('{ notifications(first: 1000000) { nodes { id } } }')).toBe(200);
  });

  it('prices _entities per representation and a batch per input', () => {
    const entities =
      'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { contact { email } } } }';
    const users = (n: number) => Array.from({ length: n }, (_, i) => ({ __typename: 'User', id: `u${i}` }));
    expect(cost(entities, { r: users(1) })).toBe(2);
    expect(cost(entities, { r: users(300) })).toBe(600);
    const batch =
      'mutation ($i: [SendNotificationInput!]!) { sendNotifications(inputs: $i) { results { index notification { id } } } }';
    const inputs = Array.from({ length: 1_000 }, () => ({ userId: 'u', type: 't' }));
    expect(cost(batch, { i: inputs })).toBe(3_000);
  });

  it('counts a root field that returns a scalar (it runs a resolver) but not introspection', () => {
    expect(cost('{ optimalSendTime(userId: "u", channel: SMS) }')).toBe(1);
    expect(cost(getIntrospectionQuery())).toBe(0);
  });
});

describe('checkQueryLimits', () => {
  const check = (query: string, variables?: Record<string, unknown>) =>
    checkQueryLimits(schema, LIMITS, { document: parse(query), variables });

  it('passes introspection, _service and a gateway fetch', () => {
    expect(check(getIntrospectionQuery())).toEqual([]);
    expect(check('{ _service { sdl } }')).toEqual([]);
    expect(
      check(
        'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Message { status events { status } } } }',
        {
          r: [{ __typename: 'Message', id: 'm' }],
        },
      ),
    ).toEqual([]);
  });

  it('does not count fragments as a level of depth', () => {
    const nested = (levels: number) =>
      `${'... on Query { '.repeat(levels)}notifications { nodes { id } }${' }'.repeat(levels)}`;
    expect(check(`{ ${nested(12)} }`)).toEqual([]);
  });

  it('refuses with BAD_USER_INPUT naming the limit and its value', () => {
    const [refusal] = check(
      `{ ${Array.from({ length: 2 }, (_, i) => `a${i}: notifications(first: 100) { nodes { messages { events { id } } } }`).join(' ')} }`,
    );
    expect(refusal?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      limit: 'GRAPHQL_MAX_COST',
      max: 10_000,
      found: 11_400,
    });
    expect(refusal?.message).toBe('Query cost limit of 10000 exceeded, estimated 11400 (GRAPHQL_MAX_COST)');
  });

  it('answers variables that do not fit as BAD_USER_INPUT, as execution would', () => {
    const [refusal] = check('query ($n: Int) { notifications(first: $n) { nodes { id } } }', { n: 'many' });
    expect(refusal?.extensions.code).toBe('BAD_USER_INPUT');
  });
});
