import { randomUUID } from 'node:crypto';
import { ApolloGateway, IntrospectAndCompose } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendNotificationDocument, UpdateContactDocument } from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const USERS_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type User @key(fields: "id") { id: ID! name: String! }
  type Query { user(id: ID!): User }
`;

/** A small users subgraph that owns User.name, as a product team's would. */
async function startUsersSubgraph(names: Record<string, string>) {
  const server = new ApolloServer({
    schema: buildSubgraphSchema({
      typeDefs: parse(USERS_SDL),
      resolvers: {
        Query: { user: (_: unknown, { id }: { id: string }) => (names[id] ? { id, name: names[id] } : null) },
        User: {
          __resolveReference: (ref: { id: string }) => ({ id: ref.id, name: names[ref.id] ?? 'unknown' }),
        },
      },
    }),
  });
  const { url } = await startStandaloneServer(server, { listen: { port: 0 } });
  return { url, stop: () => server.stop() };
}

describe('through @apollo/gateway', () => {
  let stack: TestStack;
  let users: Awaited<ReturnType<typeof startUsersSubgraph>>;
  let gateway: ApolloServer;
  let gatewayUrl: string;
  const userId = `user-${randomUUID()}`;

  beforeAll(async () => {
    stack = await startStack();
    users = await startUsersSubgraph({ [userId]: 'Ada Lovelace' });
    gateway = new ApolloServer({
      gateway: new ApolloGateway({
        supergraphSdl: new IntrospectAndCompose({
          subgraphs: [
            { name: 'users', url: users.url },
            { name: 'herald', url: stack.url },
          ],
        }),
      }),
    });
    gatewayUrl = (await startStandaloneServer(gateway, { listen: { port: 0 } })).url;
  });
  afterAll(async () => {
    await gateway?.stop();
    await users?.stop();
    await stack?.close();
  });

  it("returns a user's name from the users subgraph with Herald's contact and notifications in one query", async () => {
    await executeOk(gatewayUrl, UpdateContactDocument, {
      userId,
      input: { email: 'ada@example.com', phone: '+14155552671' },
    });
    const sent = await executeOk(gatewayUrl, SendNotificationDocument, {
      input: {
        userId,
        type: 'welcome',
        channels: ['EMAIL'],
        content: { subject: 'Welcome', text: 'Hello Ada' },
      },
    });
    const notificationId = sent.sendNotification.notification.id;

    const result = await execute<
      {
        user: {
          name: string;
          contact: { email: string; phone: string };
          notifications: { edges: { node: { id: string; type: string } }[] };
        };
      },
      { id: string }
    >(
      gatewayUrl,
      `query ($id: ID!) { user(id: $id) { name contact { email phone } notifications(first: 5) { edges { node { id type } } } } }`,
      { id: userId },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.user).toEqual({
      name: 'Ada Lovelace',
      contact: { email: 'ada@example.com', phone: '+14155552671' },
      notifications: { edges: [{ node: { id: notificationId, type: 'welcome' } }] },
    });
  });

  it('resolves Notification and Message by key through _entities', async () => {
    const sent = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId,
        type: 'welcome',
        channels: ['SMS'],
        to: { phone: '+14155552671' },
        content: { body: 'Hi' },
      },
    });
    const notification = sent.sendNotification.notification;
    const messageId = notification.messages[0].id;
    await waitFor(async () => {
      const r = await execute<{ _entities: { status: string }[] }, unknown>(
        stack.url,
        `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Message { status } } }`,
        { r: [{ __typename: 'Message', id: messageId }] },
      );
      return r.data?._entities[0]?.status === 'SENT';
    });
    const result = await execute<
      { _entities: ({ id: string; userId?: string; channel?: string } | null)[] },
      unknown
    >(
      stack.url,
      `query ($r: [_Any!]!) { _entities(representations: $r) {
         ... on Notification { id userId }
         ... on Message { id channel }
       } }`,
      {
        r: [
          { __typename: 'Notification', id: notification.id },
          { __typename: 'Message', id: messageId },
          { __typename: 'Notification', id: randomUUID() },
        ],
      },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?._entities).toEqual([
      { id: notification.id, userId },
      { id: messageId, channel: 'SMS' },
      null,
    ]);
  });
});
