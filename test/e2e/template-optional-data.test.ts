import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MessageDocument,
  PreviewNotificationDocument,
  SendNotificationDocument,
  UpsertNotificationTypeDocument,
  type SendNotificationInput,
} from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

/** The template: optional name (default) and optional coupon (if). */
const OPTIONAL =
  'Hi {{ data.name | default: "there" }}.{% if data.coupon %} Code {{ data.coupon }}{% endif %}';

/**
 * Issue 12, optional template variables: `default`, `if` and `unless` express optional data (liquidjs `lenientIf`);
 * a plain `{{ data.x }}` that is missing stays an error. Through previewNotification and a real send (worker, Twilio
 * SDK, emulator).
 */
describe('optional template data in preview and send', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startStack();
    for (const [key, body] of [
      ['greeting_optional', OPTIONAL],
      ['greeting_plain', 'Hi {{ data.name }}.'],
    ]) {
      await executeOk(stack.url, UpsertNotificationTypeDocument, {
        input: { key, name: key, templates: [{ channel: 'SMS', body }] },
      });
    }
  });
  afterAll(() => stack?.close());

  const preview = (type: string, data?: Record<string, unknown>) =>
    execute(stack.url, PreviewNotificationDocument, { type, channel: 'SMS', data });
  /** Sends one SMS to a fresh number and waits for its final status; returns it and what the emulator received. */
  const send = async (input: Omit<SendNotificationInput, 'userId'>, phone: string) => {
    const { sendNotification } = await executeOk(stack.url, SendNotificationDocument, {
      input: { userId: `u-${randomUUID()}`, channels: ['SMS'], to: { phone }, ...input },
    });
    const id = sendNotification.notification.messages[0].id;
    const message = await waitFor(async () => {
      const m = (await executeOk(stack.url, MessageDocument, { id })).message!;
      return ['SENT', 'DELIVERED', 'FAILED'].includes(m.status) && m;
    });
    const received = stack.emulator.emulator
      .recorded('twilio')
      .map((r) => r.body as Record<string, string>)
      .filter((form) => form.To === phone);
    return { message, received };
  };

  it('preview renders the issue template with data {}, with no data, and with both values', async () => {
    expect((await preview('greeting_optional', {})).data?.previewNotification.body).toBe('Hi there.');
    expect((await preview('greeting_optional')).data?.previewNotification.body).toBe('Hi there.');
    expect(
      (await preview('greeting_optional', { name: 'Ann', coupon: 'SAVE10' })).data?.previewNotification.body,
    ).toBe('Hi Ann. Code SAVE10');
  });

  it('preview of a plain missing {{ data.name }} is still BAD_USER_INPUT naming it', async () => {
    const result = await preview('greeting_plain', {});
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toContain('undefined variable: data.name');
  });

  it('a send with data {} reaches Twilio (emulator) with "Hi there."', async () => {
    const { message, received } = await send({ type: 'greeting_optional', data: {} }, '+14155550301');
    expect(message.status).not.toBe('FAILED');
    expect(received.map((form) => form.Body)).toEqual(['Hi there.']);
  });

  it('a send with name and coupon renders both', async () => {
    const { received } = await send(
      { type: 'greeting_optional', data: { name: 'Ann', coupon: 'SAVE10' } },
      '+14155550302',
    );
    expect(received.map((form) => form.Body)).toEqual(['Hi Ann. Code SAVE10']);
  });

  it('a send whose template prints a missing variable ends FAILED TEMPLATE_ERROR with no provider request', async () => {
    const { message, received } = await send({ type: 'greeting_plain', data: {} }, '+14155550303');
    expect(message).toMatchObject({ status: 'FAILED', error: { code: 'TEMPLATE_ERROR' } });
    expect(message.error?.message).toContain('data.name');
    expect(received).toEqual([]);
  });
});
