import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { getIntrospectionQuery, getNullableType, isListType, isObjectType, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { Channel } from '../../src/entities/enums';
import { checkQueryLimits, LIST_SIZES, operationCost } from '../../src/server/query-limits';
import { INPUT_LIMITS } from '../../src/services/input-limits';
import { MESSAGES_PER_NOTIFICATION } from '../../src/services/list-limits';

const schema = buildSubgraphSchema({
  typeDefs: parse(readFileSync(resolve(__dirname, '../../schema.graphql'), 'utf8')),
});
const LIMITS = { maxDepth: 10, maxAliases: 15, maxTokens: 2_000, maxCost: 10_000 };
const cost = (query: string, variables?: Record<string, unknown>) =>
  operationCost(schema, parse(query), variables);

describe('the list-size table of the cost estimate', () => {
  // Every list field, of objects and of scalars or enums alike: each must have a bound.
  const listFields = Object.values(schema.getTypeMap())
    .filter(isObjectType)
    .filter((type) => !type.name.startsWith('__'))
    .flatMap((type) =>
      Object.values(type.getFields())
        .filter((f) => isListType(getNullableType(f.type)))
        .map((f) => `${type.name}.${f.name}`),
    );

  it('bounds every list field of schema.graphql, and only fields that exist', () => {
    expect(listFields.length).toBeGreaterThan(20);
    expect(listFields.filter((key) => !(key in LIST_SIZES))).toEqual([]);
    const exists = (key: string) => {
      const [typeName, fieldName] = key.split('.');
      const type = schema.getType(typeName);
      return isObjectType(type) && fieldName in type.getFields();
    };
    expect(Object.keys(LIST_SIZES).filter((key) => !exists(key))).toEqual([]);
  });

  it('gives each bound a positive maximum and says what enforces it', () => {
    for (const [key, size] of Object.entries(LIST_SIZES)) {
      if ('countOf' in size) continue;
      expect(size.max, key).toBeGreaterThan(0);
      expect(Number.isInteger(size.max), key).toBe(true);
      if ('source' in size) expect(size.source.length, key).toBeGreaterThan(0);
    }
  });

  it('prices Notification.messages at the largest fan-out a send can make (100 tokens + topic + condition + 3)', () => {
    expect(MESSAGES_PER_NOTIFICATION).toBe(
      INPUT_LIMITS.deviceTokensPerSend.max + 2 + Object.values(Channel).length - 1,
    );
    expect(LIST_SIZES['Notification.messages']).toMatchObject({ max: 105 });
  });
});

describe('operation cost', () => {
  it('multiplies a page by its first argument, messages and events by their bounds', () => {
    // notifications: 100 × (1 + nodes: 1 × (1 + messages: 105 × (1 + events: 50 × 1)))
    expect(cost('{ notifications(first: 100) { nodes { id messages { id events { id } } } } }')).toBe(
      535_700,
    );
    // One notification with every message and event fits; a page of 90 with its messages does too.
    expect(cost('query { notification(id: "n") { messages { events { id } } } }')).toBe(5_356);
    expect(cost('{ notifications(first: 90) { nodes { messages { id } } } }')).toBe(9_630);
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
    // The list is priced by its length without being coerced (execution coerces it, and refuses what is invalid).
    expect(cost(batch, { i: Array.from({ length: 500 }, () => ({ no: 'such field' })) })).toBe(1_500);
    // Inline, a list is priced from its coerced value, as the same list given as a variable is.
    const two = [
      { userId: 'a', type: 't' },
      { userId: 'b', type: 't' },
    ];
    const selection = '{ results { index notification { id } } }';
    expect(
      cost(
        `mutation { sendNotifications(inputs: [{ userId: "a", type: "t" }, { userId: "b", type: "t" }]) ${selection} }`,
      ),
    ).toBe(
      cost(`mutation ($i: [SendNotificationInput!]!) { sendNotifications(inputs: $i) ${selection} }`, {
        i: two,
      }),
    );
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
      found: 1_071_400,
    });
    expect(refusal?.message).toBe('Query cost limit of 10000 exceeded, estimated 1071400 (GRAPHQL_MAX_COST)');
  });

  it('refuses the fan-out attack (finding 1): 4 pages of 100 notifications with their messages', () => {
    const aliases = Array.from(
      { length: 4 },
      (_, i) => `a${i}: notifications(first: 100) { nodes { id messages { id status } } }`,
    ).join(' ');
    // Priced 2,800 at 5 messages per notification while a send can make 105: 40,000 messages loaded, heap gone.
    const [refusal] = check(`{ ${aliases} }`);
    expect(refusal?.extensions).toMatchObject({ limit: 'GRAPHQL_MAX_COST', found: 42_800 });
    // A single page of 100 with messages is over the limit as well (100 × 107).
    expect(check('{ notifications(first: 100) { nodes { messages { id } } } }')[0]?.extensions.found).toBe(
      10_700,
    );
  });

  it('prices _entities Notification representations, devices, consents and history at their bounds', () => {
    const reps = Array.from({ length: 100 }, (_, i) => ({ __typename: 'Notification', id: `n${i}` }));
    const [refusal] = check(
      'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Notification { messages { id } } } }',
      { r: reps },
    );
    expect(refusal?.extensions.found).toBe(10_600);
    const user = (selection: string, n = 1) =>
      cost('query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { ' + selection + ' } } }', {
        r: Array.from({ length: n }, (_, i) => ({ __typename: 'User', id: `u${i}` })),
      });
    expect(user('devices(includeInactive: true) { id }')).toBe(1 + 100);
    expect(user('consentHistory { id }')).toBe(1 + 100);
    expect(user('consents { id }')).toBe(1 + 804);
    expect(user('consentHistory { id } devices(includeInactive: true) { id }', 100)).toBe(100 * 201);
  });

  it('answers variables that do not fit as BAD_USER_INPUT, as execution would', () => {
    const [refusal] = check('query ($n: Int) { notifications(first: $n) { nodes { id } } }', { n: 'many' });
    expect(refusal?.extensions.code).toBe('BAD_USER_INPUT');
  });
});
