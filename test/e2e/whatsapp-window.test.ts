import { describe, expect, it } from 'vitest';
import {
  GrantConsentDocument,
  MessageDocument,
  NotificationDocument,
  SendNotificationDocument,
  SendNotificationsDocument,
  UpsertNotificationTypeDocument,
  type SendNotificationInput,
} from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { useWebhookStack } from '../support/webhooks';
import { CONTENT_SID, customerWrites } from '../support/whatsapp';

/**
 * Issue 12, kind 2: WhatsApp delivers free-form text only within 24 hours of the customer's last message; outside it,
 * only approved templates (Twilio refuses with 63016). Through real GraphQL, Twilio-signed inbound webhooks, the real
 * twilio SDK and the emulator, which keeps the same window.
 */
describe('WhatsApp: templates, and the 24-hour customer service window', () => {
  const suite = useWebhookStack();
  const hour = 3_600_000;
  let sequence = 0;
  /** A number no earlier test has used. */
  const freshNumber = () => `+1415555${String(3000 + (sequence += 1)).padStart(4, '0')}`;

  const freeForm = (userId: string, whatsapp: string, extra: Partial<SendNotificationInput> = {}) => ({
    userId,
    type: 'adhoc',
    channels: ['WHATSAPP' as const],
    to: { whatsapp },
    content: { body: 'Your order has shipped' },
    ...extra,
  });
  const message = async (id: string) => (await executeOk(suite.stack.url, MessageDocument, { id })).message!;
  const until = (id: string, statuses: string[]) =>
    waitFor(async () => {
      const m = await message(id);
      return statuses.includes(m.status) && m;
    });
  const notificationsOf = async (userId: string) =>
    Number(
      (
        await suite.db.query<{ count: string }>('select count(*) from notification where user_id = $1', [
          userId,
        ])
      ).rows[0].count,
    );
  const twilioRequestsTo = (number: string) =>
    suite.stack.emulator.emulator
      .recorded('twilio')
      .filter((r) => (r.body as { To?: string }).To === `whatsapp:${number}`);
  /** Herald's record of the number's last reply, moved back in time (as if it had arrived then). */
  const ageInbound = (number: string, hours: number) =>
    suite.db.query(
      `update inbound_message set received_at = now() - make_interval(hours => $2) where "from" = $1`,
      [number, hours],
    );

  it('refuses a free-form body to a number that never wrote: OUTSIDE_SERVICE_WINDOW, nothing stored or sent', async () => {
    const number = freshNumber();
    const result = await execute(suite.stack.url, SendNotificationDocument, {
      input: freeForm('wa-never', number),
    });
    expect(result.data).toBeNull();
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'OUTSIDE_SERVICE_WINDOW',
      field: 'content.body',
      lastInboundAt: null,
    });
    expect(result.errors?.[0]?.message).toContain('content.whatsappTemplate');
    expect(await notificationsOf('wa-never')).toBe(0);
    expect(twilioRequestsTo(number)).toHaveLength(0);
  });

  it('after the customer writes (a Twilio-signed inbound webhook), a free-form body is accepted and SENT', async () => {
    const number = freshNumber();
    await customerWrites(suite.stack.emulator.url, number);
    const stored = await suite.db.query(`select channel, "to" from inbound_message where "from" = $1`, [
      number,
    ]);
    expect(stored.rows).toEqual([{ channel: 'WHATSAPP', to: '+14155238886' }]);

    const { sendNotification } = await executeOk(suite.stack.url, SendNotificationDocument, {
      input: freeForm('wa-replied', number),
    });
    const sent = await until(sendNotification.notification.messages[0].id, ['SENT', 'FAILED']);
    expect(sent).toMatchObject({
      status: 'SENT',
      provider: 'twilio-whatsapp',
      content: { body: 'Your order has shipped' },
    });
    expect(twilioRequestsTo(number).map((r) => (r.body as { Body?: string }).Body)).toEqual([
      'Your order has shipped',
    ]);
  });

  it('an inbound older than 24 hours opens no window; 23 hours does, unless the send is due after it closes', async () => {
    const number = freshNumber();
    await customerWrites(suite.stack.emulator.url, number);
    await ageInbound(number, 25);
    const late = await execute(suite.stack.url, SendNotificationDocument, {
      input: freeForm('wa-late', number),
    });
    expect(late.errors?.[0]?.extensions).toMatchObject({ code: 'OUTSIDE_SERVICE_WINDOW' });
    const { lastInboundAt, windowClosedAt } = late.errors![0].extensions as Record<string, string>;
    expect(Date.parse(windowClosedAt) - Date.parse(lastInboundAt)).toBe(24 * hour);
    expect(await notificationsOf('wa-late')).toBe(0);

    await ageInbound(number, 23);
    const inTime = await execute(suite.stack.url, SendNotificationDocument, {
      input: freeForm('wa-23h', number),
    });
    expect(inTime.errors).toBeUndefined();
    // Scheduled two hours ahead, it would go after the window closes (in one hour).
    const scheduled = await execute(suite.stack.url, SendNotificationDocument, {
      input: freeForm('wa-scheduled', number, { scheduledAt: new Date(Date.now() + 2 * hour).toISOString() }),
    });
    expect(scheduled.errors?.[0]?.extensions).toMatchObject({ code: 'OUTSIDE_SERVICE_WINDOW' });
    expect(scheduled.errors?.[0]?.message).toMatch(/window ends at .*before the message is due/);
  });

  it("a reply to another WhatsApp sender does not open this sender's window", async () => {
    const number = freshNumber();
    await customerWrites(suite.stack.emulator.url, number, { to: 'whatsapp:+14155559999' });
    const result = await execute(suite.stack.url, SendNotificationDocument, {
      input: freeForm('wa-other', number),
    });
    expect(result.errors?.[0]?.extensions?.code).toBe('OUTSIDE_SERVICE_WINDOW');
  });

  it('a template (contentSid + contentVariables) is SENT at any time; the emulator records ContentSid/ContentVariables', async () => {
    const number = freshNumber();
    const { sendNotification } = await executeOk(suite.stack.url, SendNotificationDocument, {
      input: {
        userId: 'wa-template',
        type: 'adhoc',
        channels: ['WHATSAPP', 'SMS'],
        to: { whatsapp: number, phone: number },
        content: {
          body: 'Your order has shipped',
          whatsappTemplate: { contentSid: CONTENT_SID, contentVariables: { 1: 'Ada', 2: '12/1' } },
        },
      },
    });
    const [whatsapp, sms] = ['WHATSAPP', 'SMS'].map((channel) =>
      sendNotification.notification.messages.find((m) => m.channel === channel)!,
    );
    expect(await until(whatsapp.id, ['SENT', 'FAILED'])).toMatchObject({
      status: 'SENT',
      content: {
        body: null,
        whatsappTemplate: { contentSid: CONTENT_SID, contentVariables: { 1: 'Ada', 2: '12/1' } },
      },
    });
    const [request] = twilioRequestsTo(number);
    expect(request?.body).toMatchObject({
      ContentSid: CONTENT_SID,
      ContentVariables: '{"1":"Ada","2":"12/1"}',
    });
    expect(request?.body).not.toHaveProperty('Body');
    // The body still goes by SMS.
    expect(await until(sms.id, ['SENT', 'FAILED'])).toMatchObject({
      status: 'SENT',
      content: { body: 'Your order has shipped' },
    });
  });

  it("refuses a malformed template at accept, naming the field and Twilio's rule", async () => {
    const refusal = async (whatsappTemplate: { contentSid: string; contentVariables?: unknown }) =>
      (
        await execute(suite.stack.url, SendNotificationDocument, {
          input: { ...freeForm('wa-bad', freshNumber()), content: { whatsappTemplate } },
        })
      ).errors?.[0];
    const sid = await refusal({ contentSid: 'HX123' });
    expect(sid?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'content.whatsappTemplate.contentSid',
    });
    expect(sid?.message).toContain('HX followed by 32 hex digits');
    const newline = await refusal({ contentSid: CONTENT_SID, contentVariables: { 1: 'two\nlines' } });
    expect(newline?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'content.whatsappTemplate.contentVariables["1"]',
    });
    expect(newline?.message).toContain('21656');
    expect(await refusal({ contentSid: CONTENT_SID, contentVariables: { 1: '' } })).toMatchObject({
      extensions: { field: 'content.whatsappTemplate.contentVariables["1"]' },
    });
    expect(
      (await refusal({ contentSid: CONTENT_SID, contentVariables: { 1: 'x'.repeat(1_601) } }))?.message,
    ).toContain('21658');
    expect(
      await refusal({ contentSid: CONTENT_SID, contentVariables: { 'first name': 'Ada' } }),
    ).toMatchObject({
      extensions: { field: 'content.whatsappTemplate.contentVariables["first name"]' },
    });
    expect(await refusal({ contentSid: CONTENT_SID, contentVariables: ['Ada'] })).toMatchObject({
      extensions: { field: 'content.whatsappTemplate.contentVariables' },
    });
    expect(await notificationsOf('wa-bad')).toBe(0);
  });

  it('in a batch each input stands alone: only the free-form one outside the window is refused', async () => {
    const [silent, replied] = [freshNumber(), freshNumber()];
    await customerWrites(suite.stack.emulator.url, replied);
    const { sendNotifications } = await executeOk(suite.stack.url, SendNotificationsDocument, {
      inputs: [
        freeForm('wa-batch-0', silent),
        freeForm('wa-batch-1', replied),
        { ...freeForm('wa-batch-2', silent), content: { whatsappTemplate: { contentSid: CONTENT_SID } } },
      ],
    });
    expect(sendNotifications.summary).toMatchObject({ total: 3, accepted: 2, failed: 1 });
    expect(sendNotifications.results[0]).toMatchObject({
      index: 0,
      notification: null,
      error: { code: 'OUTSIDE_SERVICE_WINDOW' },
    });
    expect(sendNotifications.results[1].notification?.id).toBeTruthy();
    expect(sendNotifications.results[2].notification?.id).toBeTruthy();
  });

  it("WHATSAPP from a type's defaults outside the window is SUPPRESSED outside_service_window, and the fallback goes", async () => {
    await executeOk(suite.stack.url, UpsertNotificationTypeDocument, {
      input: {
        key: 'wa_shipping',
        defaultChannels: ['WHATSAPP'],
        fallbackChannels: ['SMS'],
        templates: [
          { channel: 'WHATSAPP', body: 'Shipped, {{ data.name }}' },
          { channel: 'SMS', body: 'Shipped, {{ data.name }}' },
        ],
      },
    });
    const number = freshNumber();
    const { sendNotification } = await executeOk(suite.stack.url, SendNotificationDocument, {
      input: {
        userId: 'wa-default',
        type: 'wa_shipping',
        to: { whatsapp: number, phone: number },
        data: { name: 'Ada' },
      },
    });
    const messages = sendNotification.notification.messages;
    expect(messages.map((m) => [m.channel, m.status, m.error?.code ?? null]).sort()).toEqual([
      ['SMS', 'QUEUED', null],
      ['WHATSAPP', 'SUPPRESSED', 'outside_service_window'],
    ]);
    const sms = messages.find((m) => m.channel === 'SMS')!;
    expect(await until(sms.id, ['SENT', 'FAILED'])).toMatchObject({
      status: 'SENT',
      content: { body: 'Shipped, Ada' },
    });
  });

  it("a type's WHATSAPP template with a whatsappTemplate sends it at any time, its variables rendered from data", async () => {
    await executeOk(suite.stack.url, UpsertNotificationTypeDocument, {
      input: {
        key: 'wa_reminder',
        defaultChannels: ['WHATSAPP'],
        templates: [
          {
            channel: 'WHATSAPP',
            whatsappTemplate: {
              contentSid: CONTENT_SID,
              contentVariables: { 1: '{{ data.name }}', 2: '{{ data.when }}' },
            },
          },
        ],
      },
    });
    const number = freshNumber();
    const send = async (data: Record<string, string>) =>
      (
        await executeOk(suite.stack.url, SendNotificationDocument, {
          input: { userId: 'wa-type-template', type: 'wa_reminder', to: { whatsapp: number }, data },
        })
      ).sendNotification.notification.messages[0];
    const first = await send({ name: 'Ada', when: '12/1' });
    expect(await until(first.id, ['SENT', 'FAILED'])).toMatchObject({
      status: 'SENT',
      content: { whatsappTemplate: { contentSid: CONTENT_SID, contentVariables: { 1: 'Ada', 2: '12/1' } } },
    });
    expect(twilioRequestsTo(number)[0]?.body).toMatchObject({
      ContentSid: CONTENT_SID,
      ContentVariables: '{"1":"Ada","2":"12/1"}',
    });
    // A rendered value Twilio would refuse (21656: a newline) fails the message, naming the variable.
    const second = await send({ name: 'Ada\nLovelace', when: '12/1' });
    const failed = await until(second.id, ['SENT', 'FAILED']);
    expect(failed).toMatchObject({ status: 'FAILED', error: { code: 'TEMPLATE_ERROR' } });
    expect(failed.error?.message).toContain('whatsappTemplate.contentVariables.1');
    expect(twilioRequestsTo(number)).toHaveLength(1);
  });

  it('refuses a type template that names a whatsappTemplate on another channel or with a bad SID', async () => {
    const upsert = (template: Record<string, unknown>) =>
      execute(suite.stack.url, UpsertNotificationTypeDocument, {
        input: { key: 'wa_bad_type', templates: [template as never] },
      });
    expect(
      (await upsert({ channel: 'SMS', body: 'x', whatsappTemplate: { contentSid: CONTENT_SID } }))
        .errors?.[0],
    ).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.templates[0].whatsappTemplate' } });
    expect(
      (await upsert({ channel: 'WHATSAPP', whatsappTemplate: { contentSid: 'HX1' } })).errors?.[0],
    ).toMatchObject({ extensions: { field: 'input.templates[0].whatsappTemplate.contentSid' } });
    expect(
      (
        await upsert({
          channel: 'WHATSAPP',
          whatsappTemplate: { contentSid: CONTENT_SID, contentVariables: { 1: '{{ data.name' } },
        })
      ).errors?.[0],
    ).toMatchObject({ extensions: { field: 'input.templates[0].whatsappTemplate.contentVariables["1"]' } });
  });

  it('a window Herald saw open but Twilio sees closed ends FAILED 63016 at send, permanently (no retry)', async () => {
    const number = freshNumber();
    // Signed straight to Herald: the emulated Twilio never saw this customer write.
    const response = await suite.sender.twilio('/webhooks/twilio/inbound', {
      MessageSid: `SM${'7'.repeat(32)}`,
      AccountSid: 'AC00000000000000000000000000000000',
      From: `whatsapp:${number}`,
      To: 'whatsapp:+14155238886',
      Body: 'hello?',
    });
    expect(response.status).toBe(200);
    const { sendNotification } = await executeOk(suite.stack.url, SendNotificationDocument, {
      input: freeForm('wa-63016', number),
    });
    const failed = await until(sendNotification.notification.messages[0].id, ['SENT', 'FAILED']);
    expect(failed).toMatchObject({ status: 'FAILED', attempt: 1, cost: null, error: { code: '63016' } });
    expect(twilioRequestsTo(number)).toHaveLength(1);
  });

  it('a WhatsApp consent code is refused before anything is stored when it could not go out', async () => {
    const number = freshNumber();
    const refused = await execute(suite.stack.url, GrantConsentDocument, {
      input: { userId: 'wa-consent', channel: 'WHATSAPP', address: number, source: 'signup' },
    });
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      code: 'OUTSIDE_SERVICE_WINDOW',
      field: 'input.address',
    });
    const rows = await suite.db.query<{ count: string }>(
      'select count(*) from consent_event where user_id = $1',
      ['wa-consent'],
    );
    expect(Number(rows.rows[0].count)).toBe(0);

    await customerWrites(suite.stack.emulator.url, number);
    const granted = await executeOk(suite.stack.url, GrantConsentDocument, {
      input: { userId: 'wa-consent', channel: 'WHATSAPP', address: number, source: 'signup' },
    });
    expect(granted.grantConsent.map((c) => c.status)).toEqual(['PENDING_VERIFICATION']);
    await waitFor(
      () => Promise.resolve(twilioRequestsTo(number).some((r) => r.status === 201)),
      20_000,
      'the code',
    );
  });

  it('a notification read back keeps the template it was sent with', async () => {
    const number = freshNumber();
    const { sendNotification } = await executeOk(suite.stack.url, SendNotificationDocument, {
      input: {
        ...freeForm('wa-readback', number),
        content: { whatsappTemplate: { contentSid: CONTENT_SID, contentVariables: { 1: 'Ada' } } },
      },
    });
    await until(sendNotification.notification.messages[0].id, ['SENT']);
    const { notification } = await executeOk(suite.stack.url, NotificationDocument, {
      id: sendNotification.notification.id,
    });
    expect(notification?.messages[0]?.content?.whatsappTemplate).toEqual({
      contentSid: CONTENT_SID,
      contentVariables: { 1: 'Ada' },
    });
  });
});
