import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MessageStatusChangedDocument,
  NotificationDocument,
  SendNotificationDocument,
  type MessageStatusChangedSubscription,
} from '../support/generated/graphql';
import { collect, executeOk, waitForSubscribers, wsClient } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const SECRET = 'test-secret-that-is-long-enough-for-hs256!';

const token = (tenant: string | undefined, sub = 'svc-billing', secret = SECRET) =>
  new SignJWT({ ...(tenant ? { tenant } : {}), scope: 'communication:send communication:read' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(secret));

describe('auth (JWT HS256): tenant from the token, on HTTP and websockets', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ extraEnv: { JWT_SECRET: SECRET } });
  });
  afterAll(() => stack?.close());

  const input = {
    userId: 'u1',
    type: 'adhoc',
    channels: ['SMS' as const],
    to: { phone: '+14155552671' },
    content: { body: 'x' },
  };

  it('refuses a missing, forged or tenant-less token with UNAUTHENTICATED (HTTP 401)', async () => {
    for (const bearer of [
      undefined,
      await token('acme', 'svc', 'another-secret-another-secret-another!'),
      await token(undefined),
    ]) {
      const response = await fetch(stack.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        },
        body: JSON.stringify({ query: '{ notificationTypes { key } }' }),
      });
      expect(response.status).toBe(401);
      const body = (await response.json()) as { errors: { extensions: { code: string } }[] };
      expect(body.errors[0]?.extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it("refuses a token whose sub reads as one of Herald's own audit actors, or whose sub or tenant is blank (HTTP 401, websocket 4403)", async () => {
    const tokens = [
      await token('acme', 'webhook:twilio'),
      await token('acme', ' Provider:FCM '),
      await token('acme', 'UNSUBSCRIBE-LINK'),
      await token('acme', '   '),
      await token(' \t ', 'svc-billing'),
    ];
    for (const bearer of tokens) {
      const response = await fetch(stack.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
        body: JSON.stringify({ query: '{ notificationTypes { key } }' }),
      });
      expect(response.status).toBe(401);
      const body = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors[0]?.extensions.code).toBe('UNAUTHENTICATED');
      expect(body.errors[0]?.message).toMatch(/audit actors|is blank/);

      const client = wsClient(stack.url, `Bearer ${bearer}`);
      await expect(
        collect<MessageStatusChangedSubscription, { userId: string }>(
          client,
          MessageStatusChangedDocument,
          { userId: 'u-reserved' },
          () => true,
          5_000,
        ).done,
      ).rejects.toThrow(/socket closed 4403/);
      await client.dispose();
    }
    // A gateway's _entities reaches the same authentication.
    const entities = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[0]}` },
      body: JSON.stringify({
        query:
          'query { _entities(representations: [{ __typename: "Notification", id: "n1" }]) { __typename } }',
      }),
    });
    expect(entities.status).toBe(401);
    // A subject that only looks alike is an ordinary caller.
    const lookalike = await token('acme', 'webhooks-bot');
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, { input }, lookalike);
    expect(sendNotification.notification.id).toBeTruthy();
  });

  it('a tenant sees only its own notifications', async () => {
    const acme = await token('acme');
    const globex = await token('globex');
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, { input }, acme);
    const id = sendNotification.notification.id;
    expect((await executeOk(stack.url, NotificationDocument, { id }, acme)).notification?.id).toBe(id);
    expect((await executeOk(stack.url, NotificationDocument, { id }, globex)).notification).toBeNull();
  });

  it("a websocket needs a token, and its subscriber sees only its tenant's events", async () => {
    const userId = `u-ws-${Date.now()}`;
    const unauthenticated = wsClient(stack.url);
    await expect(
      collect<MessageStatusChangedSubscription, { userId: string }>(
        unauthenticated,
        MessageStatusChangedDocument,
        { userId },
        () => true,
        5_000,
      ).done,
    ).rejects.toThrow(/socket closed 4403/);
    await unauthenticated.dispose();

    const acme = await token('acme');
    const globex = await token('globex');
    await waitForSubscribers(stack.url, 0);
    const globexClient = wsClient(stack.url, `Bearer ${globex}`);
    const globexSeen = collect<MessageStatusChangedSubscription, { userId: string }>(
      globexClient,
      MessageStatusChangedDocument,
      { userId },
      () => false,
      60_000,
    );
    const acmeClient = wsClient(stack.url, `Bearer ${acme}`);
    const acmeSeen = collect<MessageStatusChangedSubscription, { userId: string }>(
      acmeClient,
      MessageStatusChangedDocument,
      { userId },
      (seen) => seen.some((e) => e.messageStatusChanged.status === 'SENT'),
    );
    await waitForSubscribers(stack.url, 2);
    const { sendNotification } = await executeOk(
      stack.url,
      SendNotificationDocument,
      { input: { ...input, userId } },
      acme,
    );
    const events = await acmeSeen.done;
    expect(
      events.every((e) => e.messageStatusChanged.notificationId === sendNotification.notification.id),
    ).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(globexSeen.seen).toEqual([]);
    await acmeClient.dispose();
    await globexClient.dispose();
  });

  it('a subscription needs notificationId or userId', async () => {
    const client = wsClient(stack.url, `Bearer ${await token('acme')}`);
    await expect(collect(client, MessageStatusChangedDocument, {}, () => true, 5_000).done).rejects.toThrow(
      /notificationId or userId/,
    );
    await client.dispose();
  });

  it('GraphQL validation errors over websockets are reported with their code, not executed', async () => {
    const client = wsClient(stack.url, `Bearer ${await token('acme')}`);
    const bogus = parse('subscription { messageStatusChanged(bogus: 1) { status } }') as TypedDocumentNode<
      unknown,
      Record<string, never>
    >;
    await expect(collect(client, bogus, {}, () => true, 5_000).done).rejects.toThrow(
      /GRAPHQL_VALIDATION_FAILED/,
    );
    await client.dispose();
  });
});
