import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MessageDocument,
  SendNotificationDocument,
  UpsertNotificationTypeDocument,
} from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

/**
 * Break12 finding 2: media URLs were checked with the WHATWG URL parser but stored and sent as written, so Twilio and
 * FCM got a URL the check never saw (`http://e.x\@evil.com/` is host e.x to the Standard, evil.com to a lax parser).
 * Herald stores and sends the Standard's serialisation (`new URL(u).href`, https://url.spec.whatwg.org/#concept-url-serializer).
 * Examples: the Standard's own (a space is percent-encoded in a path, tab and newline are removed, a backslash is a
 * path separator in special schemes).
 */
describe('media URLs are stored and sent as the URL Standard serialises them', () => {
  let stack: TestStack;
  let db: pg.Client;

  beforeAll(async () => {
    stack = await startStack();
    db = new pg.Client({ connectionString: stack.env.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  /** The emulator's first recorded request of `vendor` that matches, once there is one. */
  const recordedRequest = (vendor: 'twilio' | 'fcm', match: (body: string) => boolean) =>
    waitFor(
      () =>
        Promise.resolve(stack.emulator.emulator.recorded(vendor).find((r) => match(JSON.stringify(r.body)))),
      20_000,
      `the ${vendor} request`,
    );
  /** The send's explicit content as accept stored it (the dispatcher renders messages from it). */
  const contentOf = async (userId: string) =>
    (
      await db.query<{ content: Record<string, unknown> }>(
        'select content from notification where user_id = $1',
        [userId],
      )
    ).rows.map((r) => r.content);

  it('SMS mediaUrls: the emulator records MediaUrl as the normalised href, and the message stores it', async () => {
    const userId = `u-${randomUUID()}`;
    const phone = '+14155550161';
    const sent = await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId,
        type: 'adhoc',
        channels: ['SMS'],
        to: { phone },
        content: {
          body: 'pictures',
          mediaUrls: [
            'https://e.x/a b',
            'https://e.x\t/a',
            'http://e.x\\@evil.com/',
            'HTTPS://E.X:443/./c/../d',
          ],
        },
      },
    });
    expect(sent.sendNotification.notification.messages[0]?.status).toBe('QUEUED');
    const expected = ['https://e.x/a%20b', 'https://e.x/a', 'http://e.x/@evil.com/', 'https://e.x/d'];

    const request = await recordedRequest('twilio', (body) => body.includes(JSON.stringify(phone)));
    expect((request.body as Record<string, unknown>).MediaUrl).toEqual(expected);
    expect((await contentOf(userId))[0]).toMatchObject({ body: 'pictures', mediaUrls: expected });
  });

  it('PUSH imageUrl: FCM gets notification.image as the normalised href', async () => {
    const userId = `u-${randomUUID()}`;
    const token = `tok-${randomUUID()}`;
    await executeOk(stack.url, SendNotificationDocument, {
      input: {
        userId,
        type: 'adhoc',
        channels: ['PUSH'],
        to: { deviceTokens: [token] },
        content: { title: 't', body: 'b', imageUrl: 'https://cdn.e.x/img one\n.png' },
      },
    });
    const request = await recordedRequest('fcm', (body) => body.includes(token));
    const message = (request.body as { message: { notification?: { image?: string } } }).message;
    expect(message.notification?.image).toBe('https://cdn.e.x/img%20one.png');
    expect((await contentOf(userId))[0]).toMatchObject({ imageUrl: 'https://cdn.e.x/img%20one.png' });
  });

  it("a PUSH template's rendered imageUrl is normalised the same way; one that is no URL fails the message", async () => {
    const key = `photo_${randomUUID().slice(0, 8)}`;
    await executeOk(stack.url, UpsertNotificationTypeDocument, {
      input: {
        key,
        defaultChannels: ['PUSH'],
        templates: [{ channel: 'PUSH', title: 't', imageUrl: '{{ data.base }}/{{ data.name }}.png' }],
      },
    });
    const send = async (data: Record<string, string>) => {
      const token = `tok-${randomUUID()}`;
      const sent = await executeOk(stack.url, SendNotificationDocument, {
        input: { userId: `u-${randomUUID()}`, type: key, to: { deviceTokens: [token] }, data },
      });
      return { token, id: sent.sendNotification.notification.messages[0].id };
    };

    const good = await send({ base: 'https://img.e.x', name: 'beach day' });
    const request = await recordedRequest('fcm', (body) => body.includes(good.token));
    expect(
      (request.body as { message: { notification?: { image?: string } } }).message.notification?.image,
    ).toBe('https://img.e.x/beach%20day.png');

    const bad = await send({ base: 'javascript:alert(1)//', name: 'x' });
    const failed = await waitFor(
      async () => {
        const { message } = await executeOk(stack.url, MessageDocument, { id: bad.id });
        return message?.status === 'FAILED' ? message : undefined;
      },
      20_000,
      'the message FAILED',
    );
    expect(failed.error).toMatchObject({ code: 'TEMPLATE_ERROR' });
    expect(
      stack.emulator.emulator.recorded('fcm').some((r) => JSON.stringify(r.body).includes(bad.token)),
    ).toBe(false);
  });

  it('what the parser refuses is still refused, naming the field', async () => {
    const answer = await execute(stack.url, SendNotificationDocument, {
      input: {
        userId: `u-${randomUUID()}`,
        type: 'adhoc',
        channels: ['SMS'],
        to: { phone: '+14155550162' },
        content: { body: 'x', mediaUrls: ['https://e.x/ok', 'https://exa mple.com/'] },
      },
    });
    expect(answer.errors?.[0]).toMatchObject({
      message: 'content.mediaUrls[1]: must be an absolute http(s) URL (WHATWG URL Standard)',
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });
});
