import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MessageDocument,
  NotificationTypesDocument,
  PreviewNotificationDocument,
  SendNotificationDocument,
  UpsertNotificationTypeDocument,
} from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { expectAlive, startStack, type TestStack } from '../support/stack';

/** The example: a string that doubles on every iteration (8 × 2^23 characters for n = 23). */
const DOUBLING =
  '{% assign s = "xxxxxxxx" %}{% for i in (1..data.n) %}{% assign s = s | append: s %}{% endfor %}{{ s }}';

const MEMORY = 'rendering exceeded the memory limit of 1,000,000 characters (TEMPLATE_MEMORY_LIMIT)';
const TIME = 'rendering exceeded the time limit of 200 ms (TEMPLATE_RENDER_LIMIT_MS)';

/**
 * Template bombs against a Herald running as its own OS process (API and worker, default limits): each is refused
 * with BAD_USER_INPUT naming the limit, or ends its message FAILED TEMPLATE_LIMIT, and the process stays up.
 */
describe('template limits', () => {
  let stack: TestStack;
  let herald: { url: string; child: ChildProcess };

  beforeAll(async () => {
    // The in-process Herald only serves the API; the child is the one worker, so it sends every message.
    stack = await startStack({ role: 'api' });
    herald = await stack.spawnRole('all');
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  async function upsertSms(key: string, body: string) {
    return execute(herald.url, UpsertNotificationTypeDocument, {
      input: { key, name: key, templates: [{ channel: 'SMS', body }] },
    });
  }

  async function preview(key: string, data: Record<string, unknown> = {}) {
    return execute(herald.url, PreviewNotificationDocument, { type: key, channel: 'SMS', data });
  }

  async function storedKeys(): Promise<string[]> {
    const { notificationTypes } = await executeOk(herald.url, NotificationTypesDocument, {});
    return notificationTypes.map((t) => t.key);
  }

  it('upsertNotificationType refuses a template longer than the parse limit, naming the field and the limit', async () => {
    const result = await upsertSms('too_long', 'x'.repeat(100_001));
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.templates[0].body',
    });
    expect(result.errors?.[0]?.message).toBe(
      'input.templates[0].body: the template is 100,001 characters, over the limit of 100,000 (TEMPLATE_PARSE_LIMIT)',
    );
    expect(await storedKeys()).not.toContain('too_long');
    // At the limit it is accepted.
    expect((await upsertSms('long_enough', 'x'.repeat(100_000))).errors).toBeUndefined();
  });

  it('templates cannot read files: include, render and layout are refused when the type is saved', async () => {
    const sources = [
      '{% include "/etc/passwd" %}',
      '{% include "../../../../../etc/passwd" %}',
      '{% include "package.json" %}',
      '{% include data.file %}',
      '{% render ".env.example" %}',
      '{% layout "/etc/hostname" %}{% block x %}y{% endblock %}',
    ];
    for (const [i, body] of sources.entries()) {
      const result = await upsertSms(`files_${i}`, body);
      expect(result.errors?.[0]?.extensions?.code, body).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0]?.message, body).toMatch(/is not available: templates have no files to read/);
    }
    expect((await storedKeys()).filter((k) => k.startsWith('files_'))).toEqual([]);
  });

  it('previewNotification: the doubling loop with n = 23 is BAD_USER_INPUT naming the memory limit; the process stays up', async () => {
    expect((await upsertSms('doubling', DOUBLING)).errors).toBeUndefined();
    const result = await preview('doubling', { n: 23 });
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'templates.sms.body',
    });
    expect(result.errors?.[0]?.message).toContain(`templates.sms.body: ${MEMORY}`);
    await expectAlive(herald);
    // The same template with small data still renders.
    const fine = await preview('doubling', { n: 2 });
    expect(fine.data?.previewNotification.body).toBe('x'.repeat(32));
  });

  it('previewNotification: every kind of bomb is refused by a limit, and the process stays up after each', async () => {
    const bombs: { name: string; body: string; data?: Record<string, unknown>; error: string | RegExp }[] = [
      // Nested loops: the range version may meet either limit first (ranges are charged to memory), as may
      // copying a doubling array.
      {
        name: 'nested_ranges',
        body: '{% for i in (1..1500) %}{% for j in (1..1500) %}x{% endfor %}{% endfor %}',
        error: /rendering exceeded the (time|memory) limit/,
      },
      // Loops over the send's data with empty bodies allocate nothing: only the time limit can stop them.
      {
        name: 'nested_data',
        body: '{% for x in data.a %}{% for y in data.a %}{% endfor %}{% endfor %}',
        data: { a: Array.from({ length: 1500 }, (_, i) => i) },
        error: TIME,
      },
      {
        // Unlike empty for-loops, tablerow writes <tr><td> cells, which count as output: either limit may come first.
        name: 'nested_tablerow',
        body: '{% tablerow x in data.a %}{% tablerow y in data.a %}{% endtablerow %}{% endtablerow %}',
        data: { a: Array.from({ length: 1500 }, (_, i) => i) },
        error: /rendering exceeded the (time|memory) limit/,
      },
      // One huge range is charged to memory when it is built, before any iteration.
      { name: 'huge_range', body: '{% for i in (1..100000000) %}x{% endfor %}', error: MEMORY },
      {
        name: 'huge_range_data',
        body: '{% for i in (1..data.n) %}{% endfor %}',
        data: { n: 1e15 },
        error: MEMORY,
      },
      // The output itself counts: a loop writing a constant runs no filter.
      { name: 'big_output', body: `{% for i in (1..5000) %}${'y'.repeat(1000)}{% endfor %}`, error: MEMORY },
      // A capture that doubles itself allocates without a filter.
      {
        name: 'capture_doubling',
        body: '{% assign s = "xxxxxxxx" %}{% for i in (1..30) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}{{ s | size }}',
        error: MEMORY,
      },
      {
        name: 'array_doubling',
        body: '{% assign a = "a,b,c" | split: "," %}{% for i in (1..40) %}{% assign a = a | concat: a %}{% endfor %}{{ a | join: "," }}',
        error: /rendering exceeded the (time|memory) limit/,
      },
      {
        name: 'replace_blowup',
        body: '{% assign s = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" %}{% assign t = s | replace: "x", s | replace: "x", s | replace: "x", s %}{{ t }}',
        error: MEMORY,
      },
      { name: 'date_width', body: '{{ "now" | date: "%1000000000Y" }}', error: MEMORY },
      {
        name: 'json_of_data',
        body: '{% for i in (1..100) %}{{ data | json }}{% endfor %}',
        data: { s: 'z'.repeat(12_000) },
        error: MEMORY,
      },
      {
        name: 'liquid_tag',
        body: '{% liquid\nassign s = "xxxxxxxx"\nfor i in (1..40)\nassign s = s | append: s\nendfor\necho s %}',
        error: MEMORY,
      },
    ];
    for (const bomb of bombs) {
      expect((await upsertSms(bomb.name, bomb.body)).errors, bomb.name).toBeUndefined();
      const result = await preview(bomb.name, bomb.data);
      expect(result.errors?.[0]?.extensions, bomb.name).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'templates.sms.body',
      });
      if (typeof bomb.error === 'string')
        expect(result.errors?.[0]?.message, bomb.name).toContain(bomb.error);
      else expect(result.errors?.[0]?.message, bomb.name).toMatch(bomb.error);
      await expectAlive(herald);
    }
  }, 120_000);

  it('ordinary templates (loops, filters, numbers) render within the limits', async () => {
    const body =
      'Hi {{ data.name | upcase }}: {% for item in data.items %}{{ item.qty | times: item.price }};{% endfor %}' +
      '{% capture total %}{{ data.items | map: "price" | join: "+" }}{% endcapture %} {{ total }} {{ 99999999999 | times: 99999999999 }}';
    expect((await upsertSms('ordinary', body)).errors).toBeUndefined();
    const result = await preview('ordinary', {
      name: 'ann',
      items: [
        { qty: 2, price: 3 },
        { qty: 1, price: 5 },
      ],
    });
    expect(result.data?.previewNotification.body).toBe('Hi ANN: 6;5; 3+5 9.9999999998e+21');
  });

  it('sent, the doubling loop ends its message FAILED TEMPLATE_LIMIT after one attempt, no vendor request, and the worker sends the next message', async () => {
    expect((await upsertSms('doubling_sent', DOUBLING)).errors).toBeUndefined();
    const bombPhone = '+14155550123';
    const { sendNotification: bomb } = await executeOk(herald.url, SendNotificationDocument, {
      input: {
        userId: 'u-bomb',
        type: 'doubling_sent',
        channels: ['SMS'],
        to: { phone: bombPhone },
        data: { n: 23 },
      },
    });
    const bombId = bomb.notification.messages[0].id;
    const failed = await waitFor(async () => {
      const { message } = await executeOk(herald.url, MessageDocument, { id: bombId });
      return message?.status === 'FAILED' && message;
    });
    expect(failed.error?.code).toBe('TEMPLATE_LIMIT');
    expect(failed.error?.message).toContain(`templates.sms.body: ${MEMORY}`);
    await expectAlive(herald);

    // The same worker (the only one) goes on: an ordinary message after it is sent.
    const { sendNotification: next } = await executeOk(herald.url, SendNotificationDocument, {
      input: {
        userId: 'u-next',
        type: 'doubling_sent',
        channels: ['SMS'],
        to: { phone: '+14155550124' },
        data: { n: 1 },
      },
    });
    const sent = await waitFor(async () => {
      const { message } = await executeOk(herald.url, MessageDocument, {
        id: next.notification.messages[0].id,
      });
      return (message?.status === 'SENT' || message?.status === 'DELIVERED') && message;
    });
    expect(sent.attempt).toBe(1);

    // Permanent: never retried (one attempt, one SENDING), and the vendor never saw it.
    const { message: after } = await executeOk(herald.url, MessageDocument, { id: bombId });
    expect(after).toMatchObject({ status: 'FAILED', attempt: 1 });
    expect(after?.events.filter((e) => e.status === 'SENDING')).toHaveLength(1);
    const twilio = stack.emulator.emulator.recorded('twilio');
    expect(twilio.some((r) => (r.body as Record<string, string>).To === '+14155550124')).toBe(true);
    expect(twilio.some((r) => (r.body as Record<string, string>).To === bombPhone)).toBe(false);
    await expectAlive(herald);
  }, 60_000);
});
