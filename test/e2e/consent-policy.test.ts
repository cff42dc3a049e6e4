import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CheckConsentDocument,
  GrantConsentDocument,
  MessageDocument,
  OptimalSendTimeDocument,
  PreviewNotificationDocument,
  ResetPreferencesDocument,
  RevokeConsentDocument,
  SendNotificationDocument,
  UpdateContactDocument,
  UpdatePreferencesDocument,
  UpsertNotificationTypeDocument,
  VerifyConsentDocument,
  type Channel,
  type SendNotificationInput,
} from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { ManualClock } from '../support/clock';
import { startStack, type TestStack } from '../support/stack';
import { WebhookSender } from '../support/webhooks';

/** Tuesday 2030-01-15 12:00 UTC = 09:00 in São Paulo (UTC-3). */
const NOON_UTC = new Date('2030-01-15T12:00:00Z');

describe('consent, preferences, policy (injected clock, real worker, emulator callbacks)', () => {
  const clock = new ManualClock(NOON_UTC);
  const sender = new WebhookSender();
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startStack({ clock, callbacksDelayMs: 20 });
    sender.baseUrl = stack.config.server.publicUrl;
    await stack.herald.services.types.seedStarterTypes('default');
  });
  beforeEach(() => {
    clock.set(NOON_UTC);
    stack.emulator.emulator.reset();
  });
  afterAll(() => stack?.close());

  const newUser = async (
    contact: { email?: string; phone?: string; timezone?: string; locale?: string } = {},
  ) => {
    const userId = `u-${randomUUID()}`;
    await executeOk(stack.url, UpdateContactDocument, {
      userId,
      input: {
        email: `${userId}@example.com`,
        phone: '+14155552671',
        timezone: 'America/Sao_Paulo',
        ...contact,
      },
    });
    return userId;
  };
  const check = async (userId: string, channel: Channel, type: string, priority?: 'CRITICAL') =>
    (await executeOk(stack.url, CheckConsentDocument, { userId, channel, type, priority })).checkConsent;
  const send = async (input: SendNotificationInput) =>
    (await executeOk(stack.url, SendNotificationDocument, { input })).sendNotification.notification;
  const message = async (id: string) => (await executeOk(stack.url, MessageDocument, { id })).message!;
  const settle = (id: string, statuses = ['SENT', 'DELIVERED', 'FAILED', 'SUPPRESSED', 'BOUNCED']) =>
    waitFor(async () => {
      const m = await message(id);
      return statuses.includes(m.status) && m;
    });

  describe('checkConsent: every reason from the state that produces it', () => {
    it('explicit_consent, transactional_allowed, no_consent, no_address', async () => {
      const userId = await newUser();
      expect(await check(userId, 'EMAIL', 'monthly_report')).toEqual({
        canSend: false,
        reason: 'no_consent',
      });
      await executeOk(stack.url, GrantConsentDocument, {
        input: {
          userId,
          channel: 'EMAIL',
          types: ['monthly_report'],
          source: 'web_form',
          proof: { ip: '203.0.113.9', userAgent: 'UA', text: 'Send me reports', version: 'v3' },
        },
      });
      expect(await check(userId, 'EMAIL', 'monthly_report')).toEqual({
        canSend: true,
        reason: 'explicit_consent',
      });
      expect(await check(userId, 'EMAIL', 'payment_reminder')).toEqual({
        canSend: true,
        reason: 'transactional_allowed',
      });
      expect(await check(`u-${randomUUID()}`, 'EMAIL', 'payment_reminder')).toEqual({
        canSend: false,
        reason: 'no_address',
      });
    });

    it('opted_out (whole channel beats transactional and CRITICAL) and type-level revocation', async () => {
      const userId = await newUser();
      await executeOk(stack.url, GrantConsentDocument, {
        input: { userId, channel: 'EMAIL', source: 'api' },
      });
      await executeOk(stack.url, RevokeConsentDocument, {
        input: { userId, channel: 'EMAIL', types: ['weekly_checkin'], reason: 'too many' },
      });
      expect(await check(userId, 'EMAIL', 'weekly_checkin')).toEqual({ canSend: false, reason: 'opted_out' });
      expect(await check(userId, 'EMAIL', 'monthly_report')).toEqual({
        canSend: true,
        reason: 'explicit_consent',
      });
      await executeOk(stack.url, RevokeConsentDocument, {
        input: { userId, channel: 'EMAIL', reason: 'leaving' },
      });
      expect(await check(userId, 'EMAIL', 'payment_reminder')).toEqual({
        canSend: false,
        reason: 'opted_out',
      });
      expect(await check(userId, 'EMAIL', 'financial_alert', 'CRITICAL')).toEqual({
        canSend: false,
        reason: 'opted_out',
      });
    });

    it('pending_verification for a marketing SMS before the code is verified', async () => {
      const userId = await newUser();
      const [consent] = (
        await executeOk(stack.url, GrantConsentDocument, {
          input: { userId, channel: 'SMS', types: ['weekly_checkin'], source: 'web_form' },
        })
      ).grantConsent;
      expect(consent).toMatchObject({ status: 'PENDING_VERIFICATION', type: 'weekly_checkin' });
      expect(await check(userId, 'SMS', 'weekly_checkin')).toEqual({
        canSend: false,
        reason: 'pending_verification',
      });
    });

    it('channel_disabled and type_disabled come from preferences, and CRITICAL skips them', async () => {
      const userId = await newUser();
      await executeOk(stack.url, UpdatePreferencesDocument, {
        userId,
        input: {
          channels: [{ channel: 'SMS', enabled: false }],
          types: [{ type: 'payment_reminder', channel: 'EMAIL', enabled: false }],
        },
      });
      expect(await check(userId, 'SMS', 'payment_reminder')).toEqual({
        canSend: false,
        reason: 'channel_disabled',
      });
      expect(await check(userId, 'EMAIL', 'payment_reminder')).toEqual({
        canSend: false,
        reason: 'type_disabled',
      });
      expect(await check(userId, 'SMS', 'financial_alert', 'CRITICAL')).toEqual({
        canSend: true,
        reason: 'transactional_allowed',
      });
    });

    it('suppressed_address after a bounce', async () => {
      const userId = await newUser({ email: 'bounce@sandbox.herald.dev' });
      const n = await send({
        userId,
        type: 'payment_reminder',
        channels: ['EMAIL'],
        data: { amount: '$1', dueDate: 'Friday' },
      });
      await settle(n.messages[0].id, ['BOUNCED']);
      expect(await check(userId, 'EMAIL', 'payment_reminder')).toEqual({
        canSend: false,
        reason: 'suppressed_address',
      });
    });
  });

  it('SMS double opt-in: the code from the SMS grants; five wrong codes lock; an expired code is refused', async () => {
    const userId = await newUser({ phone: '+14155550177' });
    const grant = async () => {
      stack.emulator.emulator.reset();
      await executeOk(stack.url, GrantConsentDocument, {
        input: {
          userId,
          channel: 'SMS',
          source: 'web_form',
          proof: { text: 'Text me offers', version: '1' },
        },
      });
      const sms = await waitFor(() => Promise.resolve(stack.emulator.emulator.recorded('twilio')[0]));
      const code = /code is (\d{6})/.exec(String((sms.body as { Body: string }).Body))?.[1];
      expect((sms.body as { To: string }).To).toBe('+14155550177');
      expect(code).toMatch(/^\d{6}$/);
      return code!;
    };
    const verify = (code: string) =>
      execute(stack.url, VerifyConsentDocument, { input: { userId, channel: 'SMS', code } });

    const first = await grant();
    const wrong = first === '000000' ? '111111' : '000000';
    for (let i = 4; i >= 1; i -= 1)
      expect((await verify(wrong)).errors?.[0]?.message).toContain(`wrong code; ${i} tries left`);
    expect((await verify(wrong)).errors?.[0]?.message).toContain('too many wrong codes');
    expect((await verify(first)).errors?.[0]?.message).toContain('no SMS verification is pending');

    const second = await grant();
    clock.advance(10 * 60_000 + 1);
    expect((await verify(second)).errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'input.code' },
    });

    clock.set(NOON_UTC);
    const third = await grant();
    const verified = await executeOk(stack.url, VerifyConsentDocument, {
      input: { userId, channel: 'SMS', code: third },
    });
    expect(verified.verifyConsent).toMatchObject([{ channel: 'SMS', type: null, status: 'GRANTED' }]);
    expect(await check(userId, 'SMS', 'weekly_checkin')).toEqual({
      canSend: true,
      reason: 'explicit_consent',
    });
  });

  it('STOP through the inbound webhook: checkConsent false, marketing, transactional and CRITICAL SMS all SUPPRESSED', async () => {
    const phone = '+14155550188';
    const userId = await newUser({ phone });
    const reply = await sender.twilio('/webhooks/twilio/inbound', {
      MessageSid: `SM${randomUUID().replace(/-/g, '')}`,
      From: phone,
      To: '+15005550006',
      Body: 'Stop',
    });
    expect(reply.status).toBe(200);
    expect(await check(userId, 'SMS', 'payment_reminder')).toEqual({ canSend: false, reason: 'opted_out' });
    for (const [type, priority] of [
      ['weekly_checkin', 'LOW'],
      ['payment_reminder', 'MEDIUM'],
      ['financial_alert', 'CRITICAL'],
    ] as const) {
      const n = await send({
        userId,
        type,
        channels: ['SMS'],
        priority,
        data: { name: 'A', amount: '$1', dueDate: 'x', message: 'm' },
        content: { body: 'hello' },
      });
      // financial_alert falls back to EMAIL: the SMS itself stays SUPPRESSED.
      expect(n.messages.find((m) => m.channel === 'SMS')).toMatchObject({
        status: 'SUPPRESSED',
        error: { code: 'opted_out' },
      });
    }
    expect(stack.emulator.emulator.recorded('twilio')).toHaveLength(0);
  });

  it('a marketing email without consent is SUPPRESSED; a transactional one is sent', async () => {
    const userId = await newUser();
    const marketing = await send({
      userId,
      type: 'monthly_report',
      data: { month: 'May', url: 'https://x.example.com' },
    });
    expect(marketing.messages[0]).toMatchObject({ status: 'SUPPRESSED', error: { code: 'no_consent' } });
    const transactional = await send({
      userId,
      type: 'payment_reminder',
      channels: ['EMAIL'],
      data: { amount: '$5', dueDate: 'Monday' },
    });
    await settle(transactional.messages[0].id, ['DELIVERED']);
  });

  it('a blocked channel falls back to a permitted one when the type allows (fallbackUsed)', async () => {
    const userId = await newUser();
    await executeOk(stack.url, RevokeConsentDocument, { input: { userId, channel: 'SMS' } });
    const n = await send({
      userId,
      type: 'financial_alert',
      channels: ['SMS'],
      data: { message: 'Card used abroad' },
    });
    const byChannel = Object.fromEntries(n.messages.map((m) => [m.channel, m]));
    expect(byChannel.SMS).toMatchObject({ status: 'SUPPRESSED', error: { code: 'opted_out' } });
    expect(byChannel.EMAIL).toMatchObject({ status: 'QUEUED' });
    const { message: fallback } = await executeOk(stack.url, MessageDocument, { id: byChannel.EMAIL.id });
    expect(fallback).toBeTruthy();
    expect(
      (
        await execute<{ message: { fallbackUsed: boolean } }, unknown>(
          stack.url,
          `query ($id: ID!) { message(id: $id) { fallbackUsed } }`,
          { id: byChannel.EMAIL.id },
        )
      ).data?.message.fallbackUsed,
    ).toBe(true);
  });

  describe('timing with the injected clock', () => {
    it('inside quiet hours a message waits until the window ends in the user timezone, then goes; CRITICAL goes at once', async () => {
      const userId = await newUser();
      await executeOk(stack.url, UpdatePreferencesDocument, {
        userId,
        input: { quietHours: { start: '22:00', end: '08:00' } },
      });
      clock.set('2030-01-16T02:30:00Z'); // 23:30 in São Paulo
      const quiet = await send({
        userId,
        type: 'payment_reminder',
        channels: ['SMS'],
        data: { amount: '$9', dueDate: 'Thu' },
      });
      const deferred = await message(quiet.messages[0].id);
      expect(deferred).toMatchObject({ status: 'SCHEDULED', error: { code: 'quiet_hours' } });
      expect(new Date(deferred.queuedAt ?? 0).getTime()).toBe(0);
      const critical = await send({
        userId,
        type: 'financial_alert',
        channels: ['SMS'],
        priority: 'CRITICAL',
        data: { message: 'Fraud check' },
      });
      await settle(critical.messages[0].id, ['SENT', 'DELIVERED']);

      const { rows } = await import('pg').then(async ({ default: pg }) => {
        const db = new pg.Client({ connectionString: stack.env.databaseUrl });
        await db.connect();
        const result = await db.query<{ due_at: Date }>('select due_at from message where id = $1', [
          deferred.id,
        ]);
        await db.end();
        return result;
      });
      expect(rows[0]?.due_at.toISOString()).toBe('2030-01-16T11:00:00.000Z'); // 08:00 in São Paulo
      clock.set('2030-01-16T10:59:00Z');
      await new Promise((r) => setTimeout(r, 400));
      expect((await message(deferred.id)).status).toBe('SCHEDULED');
      clock.set('2030-01-16T11:00:01Z');
      await settle(deferred.id, ['SENT', 'DELIVERED']);
    });

    it('a frequency cap of two a day defers the third message of the day to the next day', async () => {
      const userId = await newUser();
      await executeOk(stack.url, UpsertNotificationTypeDocument, {
        input: {
          key: 'tip_of_the_day',
          category: 'TRANSACTIONAL',
          defaultChannels: ['PUSH'],
          frequencyCap: { limit: 2, period: 'DAY', action: 'DEFER' },
          templates: [{ channel: 'PUSH', title: 'Tip', body: '{{ data.tip }}' }],
        },
      });
      const sent: string[] = [];
      for (const tip of ['one', 'two', 'three']) {
        const n = await send({
          userId,
          type: 'tip_of_the_day',
          to: { deviceTokens: [`tok-${userId}`] },
          data: { tip },
        });
        sent.push(n.messages[0].id);
        await settle(n.messages[0].id, ['SENT', 'SCHEDULED']);
      }
      expect((await message(sent[0])).status).toBe('SENT');
      expect((await message(sent[1])).status).toBe('SENT');
      const third = await message(sent[2]);
      expect(third).toMatchObject({ status: 'SCHEDULED', error: { code: 'frequency_capped' } });
      clock.set('2030-01-16T03:00:01Z'); // midnight in São Paulo: a new day
      await settle(third.id, ['SENT']);
    });

    it('frequency DAILY lets one MARKETING email a day through and defers the next to tomorrow', async () => {
      const userId = await newUser();
      await executeOk(stack.url, GrantConsentDocument, {
        input: { userId, channel: 'EMAIL', source: 'api' },
      });
      await executeOk(stack.url, UpdatePreferencesDocument, { userId, input: { frequency: 'DAILY' } });
      const first = await send({
        userId,
        type: 'educational_content',
        channels: ['EMAIL'],
        data: { title: 'Budgeting', summary: '101' },
      });
      await settle(first.messages[0].id, ['SENT', 'DELIVERED']);
      const second = await send({
        userId,
        type: 'educational_content',
        channels: ['EMAIL'],
        data: { title: 'Saving', summary: '102' },
      });
      const deferred = await settle(second.messages[0].id, ['SCHEDULED']);
      expect(deferred.error?.code).toBe('frequency');
      clock.set('2030-01-16T03:00:01Z');
      await settle(deferred.id, ['SENT', 'DELIVERED']);
    });

    it('push templates render title, body and image', async () => {
      const userId = await newUser();
      await executeOk(stack.url, UpsertNotificationTypeDocument, {
        input: {
          key: 'photo_ready',
          defaultChannels: ['PUSH'],
          templates: [
            {
              channel: 'PUSH',
              title: '{{ data.name }}',
              body: 'ready',
              imageUrl: 'https://img.example.com/{{ data.id }}.png',
            },
          ],
        },
      });
      const n = await send({
        userId,
        type: 'photo_ready',
        to: { deviceTokens: ['tok-photo'] },
        data: { name: 'Beach', id: '42' },
      });
      const sent = await settle(n.messages[0].id, ['SENT']);
      expect(sent.content).toMatchObject({ title: 'Beach', body: 'ready' });
      const fcm = stack.emulator.emulator.recorded('fcm')[0];
      expect(fcm.body).toMatchObject({
        message: { notification: { title: 'Beach', image: 'https://img.example.com/42.png' } },
      });
    });

    it('optimalSendTime honours quiet hours and the preferred SMS time', async () => {
      const userId = await newUser();
      await executeOk(stack.url, UpdatePreferencesDocument, {
        userId,
        input: { preferredSmsTime: '23:00', quietHours: { start: '22:00', end: '07:00' } },
      });
      expect(
        (await executeOk(stack.url, OptimalSendTimeDocument, { userId, channel: 'SMS' })).optimalSendTime,
      ).toBe('2030-01-16T10:00:00.000Z');
      expect(
        (await executeOk(stack.url, OptimalSendTimeDocument, { userId, channel: 'PUSH' })).optimalSendTime,
      ).toBe(NOON_UTC.toISOString());
    });
  });

  it('preferences: partial update keeps the rest; reset returns defaults derived from the types', async () => {
    const userId = await newUser();
    await executeOk(stack.url, UpdatePreferencesDocument, {
      userId,
      input: { frequency: 'DAILY', segment: 'vip', preferredEmailDay: 2 },
    });
    const updated = (
      await executeOk(stack.url, UpdatePreferencesDocument, {
        userId,
        input: { channels: [{ channel: 'PUSH', enabled: false }] },
      })
    ).updateNotificationPreferences;
    expect(updated).toMatchObject({ frequency: 'DAILY', segment: 'vip', preferredEmailDay: 2 });
    expect(updated.channels.find((c) => c.channel === 'PUSH')?.enabled).toBe(false);
    const bad = await execute(stack.url, UpdatePreferencesDocument, {
      userId,
      input: { quietHours: { start: '25:00', end: '08:00' } },
    });
    expect(bad.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.quietHours.start',
    });
    const reset = (await executeOk(stack.url, ResetPreferencesDocument, { userId }))
      .resetNotificationPreferences;
    expect(reset.frequency).toBe('IMMEDIATE');
    expect(reset.channels.every((c) => c.enabled)).toBe(true);
    expect(reset.types).toContainEqual({ type: 'payment_reminder', channel: 'SMS', enabled: true });
  });

  it('preview renders with locale fallback, and names a missing variable', async () => {
    const preview = async (locale: string | null, data: Record<string, unknown>) =>
      execute(stack.url, PreviewNotificationDocument, {
        type: 'payment_reminder',
        channel: 'EMAIL',
        locale,
        data,
      });
    expect(
      (await preview('pt-BR', { amount: 'R$ 10', dueDate: 'sexta' })).data?.previewNotification,
    ).toMatchObject({ subject: 'Pagamento de R$ 10 vence em sexta' });
    expect(
      (await preview('en-GB', { amount: '£10', dueDate: 'Friday' })).data?.previewNotification,
    ).toMatchObject({ subject: 'Payment of £10 due Friday' });
    const sms = await execute(stack.url, PreviewNotificationDocument, {
      type: 'payment_reminder',
      channel: 'SMS',
      locale: 'pt-PT',
      data: { amount: '€1', dueDate: 'hoje' },
    });
    expect(sms.data?.previewNotification.body).toBe('Lembrete: €1 vence em hoje.');
    const missing = await preview(null, { amount: '$1' });
    expect(missing.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(missing.errors?.[0]?.message).toContain('data.dueDate');
  });

  it('marketing email carries RFC 8058 one-click unsubscribe; the signed link revokes consent for the type', async () => {
    const userId = await newUser();
    await executeOk(stack.url, GrantConsentDocument, {
      input: { userId, channel: 'EMAIL', types: ['monthly_report'], source: 'web_form' },
    });
    const n = await send({
      userId,
      type: 'monthly_report',
      data: { month: 'June', url: 'https://r.example.com/6' },
    });
    await settle(n.messages[0].id, ['DELIVERED']);
    const request = stack.emulator.emulator.recorded('sendgrid')[0];
    const headers = (request.body as { headers: Record<string, string> }).headers;
    expect(headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    const link = /^<(.+)>$/.exec(headers['List-Unsubscribe'])?.[1];
    expect(link).toContain(`${stack.config.server.publicUrl}/unsubscribe/`);

    const forged = await fetch(`${link!.slice(0, -4)}AAAA`, {
      method: 'POST',
      body: 'List-Unsubscribe=One-Click',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(forged.status).toBe(400);
    expect(await check(userId, 'EMAIL', 'monthly_report')).toEqual({
      canSend: true,
      reason: 'explicit_consent',
    });
    expect((await fetch(link!)).status).toBe(200); // GET only shows a confirmation page
    const oneClick = await fetch(link!, {
      method: 'POST',
      body: 'List-Unsubscribe=One-Click',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(oneClick.status).toBe(200);
    expect(await check(userId, 'EMAIL', 'monthly_report')).toEqual({ canSend: false, reason: 'opted_out' });
    // Transactional email still goes: the unsubscribe was from this list only.
    expect(await check(userId, 'EMAIL', 'payment_reminder')).toEqual({
      canSend: true,
      reason: 'transactional_allowed',
    });
    const history = await execute<
      { _entities: { consentHistory: { action: string; source: string | null; type: string | null }[] }[] },
      unknown
    >(
      stack.url,
      'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { consentHistory { action source type } } } }',
      { r: [{ __typename: 'User', id: userId }] },
    );
    expect(history.data?._entities[0]?.consentHistory).toEqual([
      { action: 'GRANT', source: 'web_form', type: 'monthly_report' },
      { action: 'REVOKE', source: 'one_click', type: 'monthly_report' },
    ]);
  });
});
