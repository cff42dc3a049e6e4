import { print } from 'graphql';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/env';
import { createLogger } from '../../src/config/logger';
import { startEmulatorServer, type RunningEmulator } from '../../src/sandbox/emulator-server';
import { startHerald, type Herald } from '../../src/runtime/herald';
import {
  MessageStatusChangedDocument,
  NotificationTypesDocument,
  SendNotificationDocument,
  type MessageStatusChangedSubscription,
} from '../support/generated/graphql';
import {
  collect,
  overWebsocket,
  waitForSubscribers,
  wsClient,
  type GraphQLResponse,
} from '../support/graphql';
import { startOwnRedis, type OwnRedis } from '../support/own-services';
import {
  dropStack,
  freePort,
  isolatedEnv,
  startStack,
  type StackEnv,
  type TestStack,
} from '../support/stack';

/**
 * GraphQL rate limits (not the provider send rates of rate-limit.test.ts): per tenant, sub and operation class for a
 * person, per tenant for a `service` token, over HTTP and websockets; a cap on operations per socket; and no Redis
 * means no limit rather than no service.
 */
const SECRET = 'test-secret-that-is-long-enough-for-hs256!';
const PERSON = 'communication:send communication:read';
const SERVICE = `service ${PERSON}`;

const token = (tenant: string, sub: string, scope = PERSON) =>
  new SignJWT({ tenant, scope })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));

const input = (userId: string) => ({
  userId,
  type: 'adhoc',
  channels: ['SMS' as const],
  to: { phone: '+14155552671' },
  content: { body: 'rate' },
});

interface Answer {
  status: number;
  headers: Headers;
  body: GraphQLResponse<unknown>;
}

async function post(url: string, bearer: string, query: string, variables?: unknown): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as never };
}

const SEND = print(SendNotificationDocument);
const TYPES = print(NotificationTypesDocument);
const send = (url: string, bearer: string, userId = 'u-rate') =>
  post(url, bearer, SEND, { input: input(userId) });

describe('GraphQL rate limits (auth on, Redis)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({
      extraEnv: {
        JWT_SECRET: SECRET,
        RATE_LIMIT_SERVICE_PER_MINUTE: '5',
        WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '3',
      },
    });
  });
  afterAll(() => stack?.close());

  it('every response carries X-RateLimit-Limit, -Remaining and -Reset (seconds from now)', async () => {
    const bearer = await token('acme', 'headers');
    const first = await post(stack.url, bearer, TYPES);
    expect(first.status).toBe(200);
    expect(first.body.errors).toBeUndefined();
    expect(first.headers.get('x-ratelimit-limit')).toBe('100');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('99');
    const reset = Number(first.headers.get('x-ratelimit-reset'));
    expect(reset).toBeGreaterThan(0);
    expect(reset).toBeLessThanOrEqual(60);
    expect(first.headers.get('retry-after')).toBeNull();
    const second = await post(stack.url, bearer, TYPES);
    expect(second.headers.get('x-ratelimit-remaining')).toBe('98');
  });

  it('a person gets 10 sends a minute: the 11th is 429 RATE_LIMITED; its queries and other users go on', async () => {
    const alice = await token('acme', 'alice');
    for (let i = 0; i < 10; i += 1) {
      const accepted = await send(stack.url, alice);
      expect(accepted.status).toBe(200);
      expect(accepted.body.errors).toBeUndefined();
      expect(accepted.headers.get('x-ratelimit-limit')).toBe('10');
      expect(accepted.headers.get('x-ratelimit-remaining')).toBe(String(9 - i));
    }
    const refused = await send(stack.url, alice);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('x-ratelimit-limit')).toBe('10');
    expect(refused.body.data ?? null).toBeNull();
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(refused.body.errors?.[0]?.message).toMatch(/10 sending requests per minute/);

    // Another class of the same person, and another person of the same tenant, have budgets of their own.
    const query = await post(stack.url, alice, TYPES);
    expect(query.status).toBe(200);
    expect(query.body.errors).toBeUndefined();
    const bob = await send(stack.url, await token('acme', 'bob'));
    expect(bob.status).toBe(200);
    expect(bob.body.errors).toBeUndefined();
  });

  it('aliases are no way around the limits: each aliased root field is a request of its class', async () => {
    const frank = await token('acme', 'frank');
    const aliased = (n: number) =>
      `mutation($input: SendNotificationInput!) { ${Array.from(
        { length: n },
        (_, i) => `a${i}: sendNotification(input: $input) { notification { id } }`,
      ).join(' ')} }`;
    const five = await post(stack.url, frank, aliased(5), { input: input('u-alias') });
    expect(five.status).toBe(200);
    expect(five.body.errors).toBeUndefined();
    expect(five.headers.get('x-ratelimit-remaining')).toBe('5');
    // Fifteen aliased sends in one request would have been fifteen sends for the price of one.
    const fifteen = await post(stack.url, frank, aliased(15), { input: input('u-alias-2') });
    expect(fifteen.status).toBe(429);
    expect(fifteen.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    const listed = await post(
      stack.url,
      frank,
      '{ notifications(filter: { userId: "u-alias-2" }) { nodes { id } } }',
    );
    expect(listed.body).toMatchObject({ data: { notifications: { nodes: [] } } });
  });

  it('a service token is limited per tenant only: two subs share one budget, another tenant has its own', async () => {
    const first = await token('svc-tenant', 'billing', SERVICE);
    const second = await token('svc-tenant', 'crm', SERVICE);
    for (const bearer of [first, first, first, second, second]) {
      const answer = await post(stack.url, bearer, TYPES);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-ratelimit-limit')).toBe('5');
    }
    const refused = await send(stack.url, second);
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(refused.body.errors?.[0]?.message).toMatch(/5 requests per minute per tenant/);
    const other = await post(stack.url, await token('other-tenant', 'billing', SERVICE), TYPES);
    expect(other.status).toBe(200);
    expect(other.headers.get('x-ratelimit-remaining')).toBe('4');
  });

  it('operations over websockets count against the same budgets', async () => {
    const carol = await token('acme', 'carol');
    for (let i = 0; i < 10; i += 1) expect((await send(stack.url, carol)).status).toBe(200);
    const client = wsClient(stack.url, `Bearer ${carol}`);
    const result = await new Promise<unknown[]>((resolve) => {
      const seen: unknown[] = [];
      client.subscribe(
        { query: SEND, variables: { input: input('u-rate') } },
        {
          next: (value) => seen.push(value),
          error: (error) => resolve([...seen, error]),
          complete: () => resolve(seen),
        },
      );
    });
    expect(JSON.stringify(result)).toMatch(/RATE_LIMITED/);
    expect(JSON.stringify(result)).toMatch(/10 sending requests per minute/);
    await client.dispose();
  });

  it('a spent budget is refused from memory until its window resets: no Redis round trip, over websockets before validation', async () => {
    const grace = await token('acme', 'grace');
    for (let i = 0; i < 10; i += 1) expect((await send(stack.url, grace)).body).toMatchObject({ data: {} });
    expect((await send(stack.url, grace)).status).toBe(429);
    // Redis forgets the count; this process does not ask it again until the window it was told of has passed.
    const redis = new Redis(stack.env.vars.REDIS_URL);
    expect(await redis.del(`${stack.env.keyPrefix}:api-rate:sending:acme:grace`)).toBe(1);
    redis.disconnect();
    const again = await send(stack.url, grace);
    expect(again.status).toBe(429);
    expect(again.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
    // Over a websocket, a sending operation of the spent caller is refused before its document is validated (a
    // flood of them costs a parse and a lookup each): an invalid one gets RATE_LIMITED, not a validation error.
    const client = wsClient(stack.url, `Bearer ${grace}`);
    const refused = await overWebsocket(client, 'mutation { sendNotification(bogus: 1) { nothing } }');
    expect(refused.errors?.map((e) => e.extensions?.code)).toEqual(['RATE_LIMITED']);
    // Its other classes are not spent: queries go on, validated as usual.
    expect((await overWebsocket(client, '{ nope }')).errors?.[0]?.extensions?.code).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
    await client.dispose();
  });

  it('caps running operations per socket: the next subscribe is refused, the others keep receiving', async () => {
    const bearer = `Bearer ${await token('acme', 'dave')}`;
    const userId = `u-cap-${Date.now()}`;
    await waitForSubscribers(stack.url, 0);
    const client = wsClient(stack.url, bearer);
    const sent = (seen: MessageStatusChangedSubscription[]) =>
      seen.some((e) => e.messageStatusChanged.status === 'SENT');
    const live = Array.from({ length: 3 }, () =>
      collect(client, MessageStatusChangedDocument, { userId }, sent, 30_000),
    );
    await waitForSubscribers(stack.url, 3);
    const refused = collect(client, MessageStatusChangedDocument, { userId }, () => true, 10_000);
    await expect(refused.done).rejects.toThrow(/RATE_LIMITED/);
    await expect(refused.done).rejects.toThrow(/at most 3 at once \(WS_MAX_SUBSCRIPTIONS_PER_SOCKET\)/);

    const accepted = await send(stack.url, await token('acme', 'erin'), userId);
    expect(accepted.body.errors).toBeUndefined();
    for (const subscription of live) expect(sent(await subscription.done)).toBe(true);
    await client.dispose();
  });
});

describe('GraphQL rate limits without Redis', () => {
  let redis: OwnRedis;
  let emulator: RunningEmulator;
  let herald: Herald;
  let env: StackEnv;

  beforeAll(async () => {
    [redis, emulator] = await Promise.all([startOwnRedis(), startEmulatorServer()]);
    const port = await freePort();
    env = isolatedEnv(emulator.url, {
      PORT: String(port),
      REDIS_URL: redis.url,
      JWT_SECRET: SECRET,
      RATE_LIMIT_GENERAL_PER_MINUTE: '2',
    });
    herald = await startHerald(parseConfig(env.vars), 'api', { logger: createLogger('silent') });
  });
  afterAll(async () => {
    // Closing waits for Redis (queues, pub/sub): bring it back first.
    await redis?.start();
    await herald?.close();
    await redis?.stop();
    await emulator?.close();
    if (env) await dropStack(env);
  });

  const unavailable = async () => {
    const text = await (await fetch(`${herald.url}/metrics`)).text();
    const match = /^herald_rate_limit_unavailable_total (\d+)/m.exec(text);
    expect(match, 'herald_rate_limit_unavailable_total is exported').not.toBeNull();
    return Number(match![1]);
  };

  it('lets requests through uncounted and counts them in herald_rate_limit_unavailable_total', async () => {
    const bearer = await token('acme', 'frank');
    const counted = await post(`${herald.url}/graphql`, bearer, TYPES);
    expect(counted.headers.get('x-ratelimit-remaining')).toBe('1');
    expect(await unavailable()).toBe(0);

    await redis.stop();
    for (let i = 0; i < 4; i += 1) {
      const answer = await post(`${herald.url}/graphql`, bearer, TYPES);
      expect(answer.status).toBe(200);
      expect(answer.body.errors).toBeUndefined();
      expect(answer.headers.get('x-ratelimit-remaining')).toBeNull();
    }
    expect(await unavailable()).toBe(4);
    expect((await fetch(`${herald.url}/health`)).status).toBe(200);
  });
});
