import { describe, expect, it } from 'vitest';
import { SANDBOX } from '../../src/config/sandbox';
import { providerRejection as rejection } from '../support/rejection';
import { TwilioSmsProvider } from '../../src/providers/twilio.provider';
import { TEST_SEND_CONTEXT as ctx, useEmulatorProviders } from '../support/providers';
import { customerWrites } from '../support/whatsapp';

/** The real vendor SDKs against Herald's emulator: what goes over the wire, and how vendor errors are classified. */
describe('provider adapters (real SDKs → emulator)', () => {
  const suite = useEmulatorProviders();

  it('Twilio SMS: form fields To/From/Body/StatusCallback and MediaUrl with Basic auth', async () => {
    const result = await suite.twilioSms.send(
      { to: '+14155552671', body: 'Hello', mediaUrls: ['https://cdn.example.com/a.png'] },
      ctx,
    );
    expect(result.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    expect(result.segments).toBe(1);
    const [request] = suite.running.emulator.recorded('twilio');
    expect(request?.path).toBe(`/twilio/2010-04-01/Accounts/${SANDBOX.twilio.accountSid}/Messages.json`);
    expect(request?.headers['content-type']).toContain('application/x-www-form-urlencoded');
    // Recorded with the account SID only, the auth token redacted (recording-redaction.ts).
    expect(request?.headers.authorization).toBe(`Basic ${SANDBOX.twilio.accountSid}:***`);
    expect(request?.body).toMatchObject({
      To: '+14155552671',
      From: SANDBOX.twilio.from,
      Body: 'Hello',
      StatusCallback: 'https://herald.example.com/webhooks/twilio/status?hm=msg-1',
      MediaUrl: 'https://cdn.example.com/a.png',
    });
  });

  it('Twilio WhatsApp: whatsapp: prefixes on both numbers', async () => {
    // Free-form WhatsApp goes only within 24 hours of the customer's message (whatsapp-emulator.test.ts).
    await customerWrites(suite.running.url, '+14155552671');
    await suite.twilioWhatsapp.send({ to: '+14155552671', body: 'Hi' }, ctx);
    expect(suite.running.emulator.recorded('twilio')[0]?.body).toMatchObject({
      To: 'whatsapp:+14155552671',
      From: SANDBOX.twilio.whatsappFrom,
    });
  });

  it('Twilio: 21211 (invalid number) is permanent; 503 and 429 are retryable; a timeout is retryable', async () => {
    const invalid = await rejection(suite.twilioSms.send({ to: '+15005550001', body: 'x' }, ctx));
    expect(invalid).toMatchObject({ code: '21211', retryable: false });

    suite.running.emulator.injectFault({ vendor: 'twilio', count: 1, status: 400, code: 21610 });
    expect(await rejection(suite.twilioSms.send({ to: '+14155552671', body: 'x' }, ctx))).toMatchObject({
      code: '21610',
      retryable: false,
    });

    suite.running.emulator.injectFault({ vendor: 'twilio', count: 1, status: 503 });
    expect(await rejection(suite.twilioSms.send({ to: '+14155552671', body: 'x' }, ctx))).toMatchObject({
      retryable: true,
    });

    suite.running.emulator.injectFault({ vendor: 'twilio', count: 1, status: 429, retryAfterSeconds: 9 });
    suite.running.emulator.injectFault({ vendor: 'twilio', count: 1, status: 429 });
    // Two concurrent sends: only the one that got Retry-After carries it (the header is noted per send).
    const [withHeader, without] = await Promise.all([
      rejection(suite.twilioSms.send({ to: '+14155552671', body: 'x' }, ctx)),
      rejection(suite.twilioSms.send({ to: '+14155552672', body: 'y' }, ctx)),
    ]);
    const delays = [withHeader.details.retryAfterMs, without.details.retryAfterMs].sort();
    expect(delays).toEqual([9_000, undefined]);
    expect(withHeader).toMatchObject({ code: '20429', retryable: true });

    suite.running.emulator.injectFault({ vendor: 'twilio', count: 1, delayMs: 1_500 });
    expect(await rejection(suite.twilioSms.send({ to: '+14155552671', body: 'x' }, ctx))).toMatchObject({
      retryable: true,
    });
  });

  it('SendGrid: /v3/mail/send with personalizations, Bearer auth, html+text, cc/bcc, attachments, categories, custom args', async () => {
    const result = await suite.sendgrid.send(
      {
        to: 'ada@example.com',
        subject: 'Statement',
        text: 'plain',
        html: '<p>html</p>',
        cc: ['cc@example.com'],
        bcc: ['bcc@example.com'],
        categories: ['billing'],
        attachments: [
          { content: Buffer.from('pdf').toString('base64'), filename: 's.pdf', type: 'application/pdf' },
        ],
      },
      ctx,
    );
    expect(result.providerMessageId).toMatch(/^[0-9a-f]{22}$/);
    const [request] = suite.running.emulator.recorded('sendgrid');
    expect(request?.path).toBe('/sendgrid/v3/mail/send');
    expect(request?.headers.authorization).toBe('Bearer SG.herald-sandbox.***');
    expect(request?.body).toMatchObject({
      from: { email: 'noreply@herald.dev' },
      subject: 'Statement',
      personalizations: [
        {
          to: [{ email: 'ada@example.com' }],
          cc: [{ email: 'cc@example.com' }],
          bcc: [{ email: 'bcc@example.com' }],
        },
      ],
      content: [
        { type: 'text/plain', value: 'plain' },
        { type: 'text/html', value: '<p>html</p>' },
      ],
      categories: ['billing'],
      custom_args: { herald_message_id: 'msg-1', herald_tenant_id: 'tenant-a' },
      attachments: [{ filename: 's.pdf', type: 'application/pdf' }],
    });
  });

  it('SendGrid: 400 is permanent, 429 and 5xx are retryable', async () => {
    suite.running.emulator.injectFault({ vendor: 'sendgrid', count: 1, status: 400 });
    expect(
      await rejection(suite.sendgrid.send({ to: 'a@example.com', subject: 's', text: 't' }, ctx)),
    ).toMatchObject({ code: '400', retryable: false });
    suite.running.emulator.injectFault({ vendor: 'sendgrid', count: 1, status: 429, retryAfterSeconds: 3 });
    expect(
      await rejection(suite.sendgrid.send({ to: 'a@example.com', subject: 's', text: 't' }, ctx)),
    ).toMatchObject({
      code: '429',
      retryable: true,
      details: { retryAfterMs: 3000 },
    });
    suite.running.emulator.injectFault({ vendor: 'sendgrid', count: 1, status: 502 });
    expect(
      await rejection(suite.sendgrid.send({ to: 'a@example.com', subject: 's', text: 't' }, ctx)),
    ).toMatchObject({ retryable: true });
  });

  it('FCM: messages:send with a Bearer token for one token, a topic and a condition; data and image', async () => {
    const one = await suite.fcm.send(
      {
        target: { token: 'tok-1' },
        title: 'T',
        body: 'B',
        imageUrl: 'https://cdn.example.com/i.png',
        data: { k: 'v' },
      },
      ctx,
    );
    expect(one.providerMessageId).toMatch(new RegExp(`^projects/${SANDBOX.fcm.projectId}/messages/`));
    await suite.fcm.send({ target: { topic: 'news' }, title: 'T' }, ctx);
    await suite.fcm.send({ target: { condition: "'a' in topics" }, body: 'B' }, ctx);
    const requests = suite.running.emulator.recorded('fcm');
    expect(requests.map((r) => r.path)).toEqual(
      Array(3).fill(`/fcm/v1/projects/${SANDBOX.fcm.projectId}/messages:send`),
    );
    expect(requests.every((r) => r.headers.authorization === 'Bearer ***')).toBe(true);
    expect(requests[0]?.body).toMatchObject({
      message: {
        token: 'tok-1',
        notification: { title: 'T', body: 'B', image: 'https://cdn.example.com/i.png' },
        data: { k: 'v' },
      },
    });
    expect(requests[1]?.body).toMatchObject({ message: { topic: 'news' } });
    expect(requests[2]?.body).toMatchObject({ message: { condition: "'a' in topics" } });
  });

  it('FCM: many tokens go out as one multicast', async () => {
    await suite.fcm.send({ target: { tokens: ['t1', 't2'] }, title: 'T' }, ctx);
    expect(
      suite.running.emulator
        .recorded('fcm')
        .map((r) => (r.body as { message: { token: string } }).message.token)
        .sort(),
    ).toEqual(['t1', 't2']);
  });

  it('FCM: UNREGISTERED is permanent and marks the address invalid; 503 is retryable', async () => {
    const unregistered = await rejection(
      suite.fcm.send({ target: { token: 'unregistered-abc' }, title: 'T' }, ctx),
    );
    expect(unregistered).toMatchObject({
      code: 'UNREGISTERED',
      retryable: false,
      details: { invalidAddress: true },
    });
    suite.running.emulator.injectFault({ vendor: 'fcm', count: 1, status: 400, code: 'INVALID_ARGUMENT' });
    expect(await rejection(suite.fcm.send({ target: { token: 'tok' }, title: 'T' }, ctx))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      retryable: false,
    });
    suite.running.emulator.injectFault({ vendor: 'fcm', count: 1, status: 503 });
    expect(await rejection(suite.fcm.send({ target: { token: 'tok' }, title: 'T' }, ctx))).toMatchObject({
      retryable: true,
    });
  });

  it('the emulator refuses wrong credentials, as the vendors do', async () => {
    const wrong = new TwilioSmsProvider({
      mode: 'live',
      accountSid: SANDBOX.twilio.accountSid,
      authToken: 'not-the-token',
      from: '+15005550006',
      whatsappFrom: 'whatsapp:+15005550006',
      apiUrl: `${suite.running.url}/twilio`,
      statusCallbackUrl: 'https://x.example.com/webhooks/twilio/status',
      timeoutMs: 500,
    });
    expect(await rejection(wrong.send({ to: '+14155552671', body: 'x' }, ctx))).toMatchObject({
      code: '20003',
      retryable: false,
    });
  });
});
