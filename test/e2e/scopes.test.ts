import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  Kind,
  parse,
  type EnumTypeDefinitionNode,
  type FieldDefinitionNode,
  type InputObjectTypeDefinitionNode,
  type ObjectTypeDefinitionNode,
  type TypeNode,
} from 'graphql';
import type { Client } from 'graphql-ws';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX } from '../../src/config/sandbox';
import { MessageStatusChangedDocument } from '../support/generated/graphql';
import { OPERATION_SCOPES } from '../../src/resolvers/scopes';
import { collect, execute, wsClient, type GraphQLResponse } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const SECRET = 'scopes-test-secret-long-enough-for-hs256!';

/**
 * The issue's scope table, written out here on its own (not read from src) so the server's table is checked against
 * it. Every Query/Mutation/Subscription field and every User comms field in schema.graphql must have a row: an
 * operation added without one fails the first test below.
 */
const SCOPE_TABLE: Record<string, string[]> = {
  'Mutation.sendNotification': ['communication:send'],
  'Mutation.sendNotifications': ['communication:send'],
  'Mutation.cancelNotification': ['communication:send'],
  'Query.notification': ['communication:read'],
  'Query.message': ['communication:read'],
  'Query.notifications': ['communication:read'],
  'Subscription.messageStatusChanged': ['communication:read'],
  'Query.providers': ['communication:read'],
  'Query.notificationTypes': ['communication:read'],
  'Query.previewNotification': ['communication:read'],
  'Query.optimalSendTime': ['communication:read'],
  'User.contact': ['communication:read'],
  'User.devices': ['communication:read'],
  'User.consents': ['communication:read'],
  'User.consentHistory': ['communication:read'],
  'User.notificationPreferences': ['communication:read'],
  'User.notifications': ['communication:read'],
  'Mutation.updateContact': ['preferences:manage'],
  'Mutation.registerDevice': ['preferences:manage'],
  'Mutation.unregisterDevice': ['preferences:manage'],
  'Mutation.updateNotificationPreferences': ['preferences:manage'],
  'Mutation.resetNotificationPreferences': ['preferences:manage'],
  'Mutation.grantConsent': ['consent:manage'],
  'Mutation.verifyConsent': ['consent:manage'],
  'Mutation.revokeConsent': ['consent:manage'],
  'Query.checkConsent': ['consent:manage', 'communication:read'],
  'Mutation.upsertNotificationType': ['admin'],
  'Query.tenantSettings': ['admin'],
  'Mutation.updateTenantSettings': ['admin'],
  'Query.channelConfigs': ['admin'],
  'Query.channelConfig': ['admin'],
  'Mutation.createChannelConfig': ['admin'],
  'Mutation.updateChannelConfig': ['admin'],
  'Mutation.deleteChannelConfig': ['admin'],
  'Query.auditLog': ['admin'],
};

// ---- schema.graphql → one minimal valid document per field -------------------------------------------------------

const sdl = parse(readFileSync(resolve(__dirname, '../../schema.graphql'), 'utf8'));
const definitions = new Map(
  sdl.definitions
    .filter(
      (d): d is ObjectTypeDefinitionNode | InputObjectTypeDefinitionNode | EnumTypeDefinitionNode =>
        d.kind === Kind.OBJECT_TYPE_DEFINITION ||
        d.kind === Kind.INPUT_OBJECT_TYPE_DEFINITION ||
        d.kind === Kind.ENUM_TYPE_DEFINITION,
    )
    .map((d) => [d.name.value, d]),
);
const fieldsOf = (typeName: string): FieldDefinitionNode[] => {
  const type = definitions.get(typeName);
  return type?.kind === Kind.OBJECT_TYPE_DEFINITION ? [...(type.fields ?? [])] : [];
};
const namedType = (type: TypeNode): string =>
  type.kind === Kind.NAMED_TYPE ? type.name.value : namedType(type.type);

/** A value of an input type: required fields only, the first enum value, a plausible scalar. */
function sampleValue(type: TypeNode): unknown {
  if (type.kind === Kind.NON_NULL_TYPE) return sampleValue(type.type);
  if (type.kind === Kind.LIST_TYPE) return [sampleValue(type.type)];
  const name = type.name.value;
  const definition = definitions.get(name);
  if (definition?.kind === Kind.ENUM_TYPE_DEFINITION) return definition.values?.[0]?.name.value;
  if (definition?.kind === Kind.INPUT_OBJECT_TYPE_DEFINITION) {
    return Object.fromEntries(
      (definition.fields ?? [])
        .filter((f) => f.type.kind === Kind.NON_NULL_TYPE && !f.defaultValue)
        .map((f) => [f.name.value, sampleValue(f.type)]),
    );
  }
  return (
    { Int: 1, Float: 1, Boolean: true, DateTime: new Date().toISOString(), JSON: {} }[name] ?? 'scope-probe'
  );
}

const selectionOf = (field: FieldDefinitionNode) =>
  definitions.get(namedType(field.type))?.kind === Kind.OBJECT_TYPE_DEFINITION ? ' { __typename }' : '';

/** `query ($a: T!) { field(a: $a) { __typename } }` with variables for the required arguments. */
function rootDocument(operation: 'query' | 'mutation' | 'subscription', field: FieldDefinitionNode) {
  const required = (field.arguments ?? []).filter(
    (a) => a.type.kind === Kind.NON_NULL_TYPE && !a.defaultValue,
  );
  const printType = (type: TypeNode): string =>
    type.kind === Kind.NON_NULL_TYPE
      ? `${printType(type.type)}!`
      : type.kind === Kind.LIST_TYPE
        ? `[${printType(type.type)}]`
        : type.name.value;
  const declared = required.map((a) => `$${a.name.value}: ${printType(a.type)}`).join(', ');
  const passed = required.map((a) => `${a.name.value}: $${a.name.value}`).join(', ');
  return {
    query: `${operation}${declared ? ` (${declared})` : ''} { ${field.name.value}${passed ? `(${passed})` : ''}${selectionOf(field)} }`,
    variables: Object.fromEntries(required.map((a) => [a.name.value, sampleValue(a.type)])),
  };
}

const entitiesQuery = (typeName: string, selection: string) =>
  `query ($r: [_Any!]!) { _entities(representations: $r) { ... on ${typeName} { ${selection} } } }`;

/** User comms fields are reached the way a gateway reaches them: `_entities` sent straight to the subgraph. */
function userFieldDocument(field: FieldDefinitionNode) {
  return {
    query: entitiesQuery('User', `${field.name.value}${selectionOf(field)}`),
    variables: { r: [{ __typename: 'User', id: 'u-scopes' }] },
  };
}

const ROOTS = [
  ['Query', 'query'],
  ['Mutation', 'mutation'],
  ['Subscription', 'subscription'],
] as const;
const schemaKeys = [
  ...ROOTS.flatMap(([type]) => fieldsOf(type).map((f) => `${type}.${f.name.value}`)),
  ...fieldsOf('User')
    .filter((f) => f.name.value !== 'id')
    .map((f) => `User.${f.name.value}`),
];

// ---- tokens and calls -------------------------------------------------------------------------------------------

let probe = 0;
/** A token with these scopes; each call gets its own `sub`, so per-caller rate limits never decide a result here. */
function token(scopes: string[], options: { exp?: number | false; tenant?: string } = {}) {
  probe += 1;
  let jwt = new SignJWT({ tenant: options.tenant ?? 'acme', scope: scopes.join(' ') })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(`scope-probe-${probe}`)
    .setIssuedAt();
  if (options.exp !== false) jwt = jwt.setExpirationTime(options.exp ?? '5m');
  return jwt.sign(new TextEncoder().encode(SECRET));
}

const codes = (result: GraphQLResponse<unknown>) => (result.errors ?? []).map((e) => e.extensions?.code);
const forbidden = (result: GraphQLResponse<unknown>) =>
  (result.errors ?? []).filter((e) => e.extensions?.code === 'FORBIDDEN');

/** The first result of one operation over a real graphql-ws client (a query, mutation or subscription). */
function wsFirst(client: Client, query: string, variables: Record<string, unknown>) {
  return new Promise<GraphQLResponse<unknown>>((resolveResult, reject) => {
    const unsubscribe = client.subscribe(
      { query, variables },
      {
        next: (value) => {
          unsubscribe();
          resolveResult(value as GraphQLResponse<unknown>);
        },
        error: (error) => {
          const close = error as { code?: unknown; reason?: unknown };
          reject(
            error instanceof Error
              ? error
              : new Error(
                  `socket closed ${String(close.code)} ${typeof close.reason === 'string' ? close.reason : ''}`,
                ),
          );
        },
        complete: () => undefined,
      },
    );
  });
}

describe('scopes: every operation checks its scope (auth on), over HTTP, graphql-ws and _entities', () => {
  let stack: TestStack;
  let base: string;
  let notificationId: string;

  beforeAll(async () => {
    stack = await startStack({ extraEnv: { JWT_SECRET: SECRET } });
    base = stack.url.replace(/\/graphql$/, '');
    const sent = await execute<{ sendNotification: { notification: { id: string } } }, unknown>(
      stack.url,
      `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { id } } }`,
      {
        input: {
          userId: 'u-scopes',
          type: 'adhoc',
          channels: ['SMS'],
          to: { phone: '+14155552671' },
          content: { body: 'scopes' },
        },
      },
      await token(['communication:send']),
    );
    expect(sent.errors).toBeUndefined();
    notificationId = sent.data!.sendNotification.notification.id;
  });
  afterAll(() => stack?.close());

  it('every operation and User comms field of schema.graphql has a row in the scope table, and the server applies that row', () => {
    expect(schemaKeys.length).toBeGreaterThan(20);
    const withoutRule = schemaKeys.filter((key) => !(key in SCOPE_TABLE));
    expect(withoutRule, 'operations in schema.graphql without a scope rule').toEqual([]);
    for (const key of schemaKeys) expect([...(OPERATION_SCOPES[key] ?? [])], key).toEqual(SCOPE_TABLE[key]);
    expect(Object.keys(SCOPE_TABLE).filter((key) => !schemaKeys.includes(key))).toEqual([]);
  });

  const httpCases = [
    ...(['Query', 'Mutation'] as const).flatMap((type) =>
      fieldsOf(type).map((field) => ({
        key: `${type}.${field.name.value}`,
        document: rootDocument(type === 'Query' ? 'query' : 'mutation', field),
      })),
    ),
    ...fieldsOf('User')
      .filter((f) => f.name.value !== 'id')
      .map((field) => ({ key: `User.${field.name.value}`, document: userFieldDocument(field) })),
  ];

  it.each(httpCases)(
    'HTTP $key: FORBIDDEN without its scope or with only service; allowed with it or admin',
    async ({ key, document }) => {
      const rule = SCOPE_TABLE[key];
      const run = async (scopes: string[]) =>
        execute(stack.url, document.query, document.variables, await token(scopes));

      const none = await run([]);
      expect(forbidden(none), JSON.stringify(none)).toHaveLength(1);
      const message = forbidden(none)[0].message;
      expect(message).toContain(key);
      for (const scope of rule) expect(message).toContain(`"${scope}"`);

      const service = await run(['service']);
      expect(forbidden(service), JSON.stringify(service)).toHaveLength(1);
      // Scopes of other rows do not open this one.
      const others = [
        'communication:send',
        'communication:read',
        'preferences:manage',
        'consent:manage',
      ].filter((scope) => !rule.includes(scope));
      expect(forbidden(await run([...others, 'analytics:read', 'service']))).toHaveLength(1);

      for (const scopes of [...rule.map((scope) => [scope]), ['admin']]) {
        const result = await run(scopes);
        expect(forbidden(result), `${scopes.join(' ')}: ${JSON.stringify(result)}`).toEqual([]);
        expect(codes(result)).not.toContain('UNAUTHENTICATED');
      }
    },
  );

  it('_entities: Notification and Message references need communication:read', async () => {
    for (const [typeName, id] of [
      ['Notification', notificationId],
      ['Message', '00000000-0000-4000-8000-000000000000'],
    ] as const) {
      const document = entitiesQuery(typeName, 'id');
      const variables = { r: [{ __typename: typeName, id }] };
      for (const scopes of [
        [],
        ['service'],
        ['communication:send', 'preferences:manage', 'consent:manage'],
      ]) {
        const result = await execute(stack.url, document, variables, await token(scopes));
        expect(forbidden(result)[0]?.message, JSON.stringify(result)).toBe(
          `${typeName} (_entities) needs scope "communication:read"`,
        );
      }
      for (const scopes of [['communication:read'], ['admin']]) {
        const result = await execute(stack.url, document, variables, await token(scopes));
        expect(forbidden(result), JSON.stringify(result)).toEqual([]);
      }
    }
    const read = await execute<{ _entities: { id: string }[] }, unknown>(
      stack.url,
      entitiesQuery('Notification', 'id'),
      { r: [{ __typename: 'Notification', id: notificationId }] },
      await token(['communication:read']),
    );
    expect(read.data?._entities).toEqual([{ id: notificationId }]);
  });

  it('_entities on User through the scope table: contact needs communication:read', async () => {
    const query = entitiesQuery('User', 'id contact { email }');
    const variables = { r: [{ __typename: 'User', id: 'u' }] };
    const none = await execute(stack.url, query, variables, await token([]));
    expect(forbidden(none).map((e) => e.message)).toEqual(['User.contact needs scope "communication:read"']);
    const read = await execute(stack.url, query, variables, await token(['communication:read']));
    expect(read.errors).toBeUndefined();
  });

  it('_service { sdl } needs a valid token and no scope (gateways compose with it)', async () => {
    const result = await execute<{ _service: { sdl: string } }, unknown>(
      stack.url,
      '{ _service { sdl } }',
      {},
      await token([]),
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?._service.sdl).toContain('sendNotification');
    const anonymous = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ _service { sdl } }' }),
    });
    expect(anonymous.status).toBe(401);
  });

  it('graphql-ws: the subscription and a mutation check scopes as HTTP does', async () => {
    const subscription = rootDocument('subscription', fieldsOf('Subscription')[0]);
    expect(subscription.query).toContain('messageStatusChanged');
    const subscribe = `subscription ($id: ID) { messageStatusChanged(notificationId: $id) { status } }`;
    const mutation = `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { id } } }`;
    const input = {
      userId: 'u-scopes-ws',
      type: 'adhoc',
      channels: ['SMS'],
      to: { phone: '+14155552671' },
      content: { body: 'ws' },
    };
    const cases = [
      {
        query: subscribe,
        variables: { id: notificationId },
        rule: 'communication:read',
        key: 'messageStatusChanged',
      },
      { query: mutation, variables: { input }, rule: 'communication:send', key: 'sendNotification' },
    ];
    for (const { query, variables, rule, key } of cases) {
      for (const scopes of [[], ['service']]) {
        const client = wsClient(stack.url, `Bearer ${await token(scopes)}`);
        const result = await wsFirst(client, query, variables);
        expect(forbidden(result)[0]?.message, JSON.stringify(result)).toContain(
          `${key} needs scope "${rule}"`,
        );
        await client.dispose();
      }
      for (const scopes of [[rule], ['admin']]) {
        const client = wsClient(stack.url, `Bearer ${await token(scopes)}`);
        const result = await wsFirst(client, query, variables);
        expect(result.errors, JSON.stringify(result)).toBeUndefined();
        expect(result.data).toBeTruthy();
        await client.dispose();
      }
    }
  });

  it('refuses a token without exp (UNAUTHENTICATED naming exp), on HTTP and websockets', async () => {
    const eternal = await token(['admin'], { exp: false });
    const response = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${eternal}` },
      body: JSON.stringify({ query: '{ providers { id } }' }),
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as GraphQLResponse<unknown>;
    expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(body.errors?.[0]?.message).toMatch(/"exp"/);

    const client = wsClient(stack.url, `Bearer ${eternal}`);
    await expect(wsFirst(client, '{ providers { id } }', {})).rejects.toThrow(/socket closed 4403/);
    await client.dispose();
  });

  it('closes an open websocket with 4403 when its token expires', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    const client = wsClient(stack.url, `Bearer ${await token(['communication:read'], { exp: expiresAt })}`);
    const live = collect(
      client,
      MessageStatusChangedDocument,
      { userId: 'u-nobody-sends-to' },
      () => false,
      60_000,
    );
    await expect(live.done).rejects.toThrow(/socket closed 4403 Forbidden: token expired/);
    await client.dispose();
  });

  it('with auth on, /sandbox/messages and /sandbox/__emulator need an admin token; the vendor routes do not', async () => {
    for (const path of [
      '/sandbox/messages',
      '/sandbox/__emulator/requests',
      '/sandbox/__emulator/callbacks',
    ]) {
      expect((await fetch(`${base}${path}`)).status, path).toBe(401);
      const forged = await fetch(`${base}${path}`, { headers: { authorization: 'Bearer not-a-jwt' } });
      expect(forged.status, path).toBe(401);
      for (const scopes of [['communication:read', 'communication:send', 'service'], []]) {
        const response = await fetch(`${base}${path}`, {
          headers: { authorization: `Bearer ${await token(scopes)}` },
        });
        expect(response.status, path).toBe(403);
        expect(((await response.json()) as { error: string }).error).toContain('"admin"');
      }
      const admin = await fetch(`${base}${path}`, {
        headers: { authorization: `Bearer ${await token(['admin'])}` },
      });
      expect(admin.status, path).toBe(200);
    }
    const faults = await fetch(`${base}/sandbox/__emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'twilio', times: 1, status: 500 }),
    });
    expect(faults.status).toBe(401);

    // What an SDK sends: the sandbox's published basic-auth credentials, no JWT.
    const { accountSid, authToken } = SANDBOX.twilio;
    const vendor = await fetch(`${base}/sandbox/twilio/2010-04-01/Accounts/${accountSid}/Messages.json`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`,
      },
      body: new URLSearchParams({ To: '+14155552671', From: SANDBOX.twilio.from, Body: 'sdk' }).toString(),
    });
    expect(vendor.status).toBe(201);
  });
});
