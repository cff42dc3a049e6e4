import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/graphql';
import { expectAlive, startStack, type TestStack } from '../support/stack';

/**
 * Found by the break-it review: a send's explicit content is shared by its messages, so a 900 KB email html was copied
 * into each of 100 push messages (the worker ran out of memory), and a fallback SMS took an email-sized body past
 * Twilio's 1,600 characters into a segment count that is quadratic in the length (the loop froze for minutes).
 * Each message now keeps only its channel's fields, and what will be sent is held to the vendor's size at dispatch.
 */
describe('each message carries its own channel’s content, within the vendor’s size', () => {
  let stack: TestStack;
  let herald: Awaited<ReturnType<TestStack['spawnRole']>>;
  let db: pg.Client;

  beforeAll(async () => {
    // The in-process Herald serves the API only; the child is the one worker, so its survival is observable.
    stack = await startStack({ role: 'api' });
    herald = await stack.spawnRole('all');
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
  }, 60_000);
  afterAll(async () => {
    await db?.end();
    await herald?.stop();
    await stack?.close();
  });

  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const response = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as {
      data?: Record<string, unknown>;
      errors?: { message: string; extensions: Record<string, unknown> }[];
    };
  };
  const SEND = `mutation($input: SendNotificationInput!) { sendNotification(input: $input) { notification { id } } }`;
  const messagesOf = async (userId: string) =>
    (
      await db.query<{
        channel: string;
        status: string;
        error_code: string | null;
        content: Record<string, unknown> | null;
        fallback_used: boolean;
      }>(
        'select channel, status, error_code, content, fallback_used from message where user_id = $1 order by created_at',
        [userId],
      )
    ).rows;
  const finalStatuses = ['SENT', 'DELIVERED', 'FAILED', 'SUPPRESSED'];

  it('a push message keeps title and body, not the email html of the same send', async () => {
    const userId = `u-${randomUUID()}`;
    const answer = await gql(SEND, {
      input: {
        userId,
        type: 'adhoc',
        channels: ['PUSH'],
        to: { deviceTokens: ['tok-a', 'tok-b', 'tok-c'] },
        content: { title: 't', body: 'b', html: 'h'.repeat(900_000), text: 'x'.repeat(10_000) },
      },
    });
    expect(answer.errors).toBeUndefined();
    await waitFor(
      async () => (await messagesOf(userId)).every((m) => finalStatuses.includes(m.status)),
      30_000,
      'push messages final',
    );
    const messages = await messagesOf(userId);
    expect(messages).toHaveLength(3);
    for (const message of messages) {
      expect(message.status).toBe('SENT');
      expect(Object.keys(message.content ?? {}).sort()).toEqual(['body', 'data', 'title']);
    }
    await expectAlive(herald);
  });

  it('a fallback SMS with an email-sized body ends FAILED TEMPLATE_LIMIT, sends nothing, and the worker goes on', async () => {
    const key = `fb_${randomUUID().slice(0, 8)}`;
    const userId = `u-${randomUUID()}`;
    expect(
      (
        await gql(
          `mutation($input: NotificationTypeInput!) { upsertNotificationType(input: $input) { key } }`,
          { input: { key, defaultChannels: ['EMAIL'], fallbackChannels: ['SMS'] } },
        )
      ).errors,
    ).toBeUndefined();
    await gql(
      `mutation($u: ID!) { updateContact(userId: $u, input: { email: "x@example.com", phone: "+14155552671" }) { userId } }`,
      { u: userId },
    );
    await gql(`mutation($u: ID!) { revokeConsent(input: { userId: $u, channel: EMAIL }) { id } }`, {
      u: userId,
    });
    const answer = await gql(SEND, {
      input: {
        userId,
        type: key,
        channels: ['EMAIL'],
        content: { subject: 's', text: 't', body: 'é'.repeat(24_000) },
      },
    });
    expect(answer.errors).toBeUndefined();
    await waitFor(
      async () => (await messagesOf(userId)).some((m) => m.fallback_used && finalStatuses.includes(m.status)),
      30_000,
      'fallback SMS final',
    );
    const fallback = (await messagesOf(userId)).find((m) => m.fallback_used)!;
    expect(fallback).toMatchObject({ channel: 'SMS', status: 'FAILED', error_code: 'TEMPLATE_LIMIT' });
    expect(
      stack.emulator.emulator.recorded('twilio').filter((r) => JSON.stringify(r.body).includes('éééé')),
    ).toEqual([]);
    await expectAlive(herald);
  });

  it('an SMS template that renders past 1,600 characters: preview refuses it, a send ends FAILED TEMPLATE_LIMIT', async () => {
    const key = `long_${randomUUID().slice(0, 8)}`;
    expect(
      (
        await gql(
          `mutation($input: NotificationTypeInput!) { upsertNotificationType(input: $input) { key } }`,
          {
            input: {
              key,
              defaultChannels: ['SMS'],
              templates: [{ channel: 'SMS', body: 'a'.repeat(3_000) }],
            },
          },
        )
      ).errors,
    ).toBeUndefined();
    const preview = await gql(`query($t: String!) { previewNotification(type: $t, channel: SMS) { body } }`, {
      t: key,
    });
    expect(preview.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(preview.errors?.[0]?.message).toMatch(
      /3,000 characters, over Twilio's maximum message body of 1,600/,
    );
    const userId = `u-${randomUUID()}`;
    expect(
      (await gql(SEND, { input: { userId, type: key, to: { phone: '+14155552671' } } })).errors,
    ).toBeUndefined();
    await waitFor(
      async () => (await messagesOf(userId)).every((m) => finalStatuses.includes(m.status)),
      30_000,
      'templated SMS final',
    );
    expect((await messagesOf(userId))[0]).toMatchObject({ status: 'FAILED', error_code: 'TEMPLATE_LIMIT' });
    await expectAlive(herald);
  });
});
