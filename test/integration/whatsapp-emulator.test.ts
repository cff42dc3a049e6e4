import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SANDBOX } from '../../src/config/sandbox';
import { startEmulatorServer, type RunningEmulator } from '../../src/sandbox/emulator-server';
import { OUTSIDE_WINDOW_MESSAGE } from '../../src/sandbox/twilio-whatsapp';
import { TwilioWhatsappProvider } from '../../src/providers/twilio.provider';
import { providerRejection as rejection } from '../support/rejection';
import { CONTENT_SID, customerWrites } from '../support/whatsapp';

/**
 * The emulated Twilio refuses what Twilio refuses on WhatsApp: free-form text outside the customer's 24-hour window
 * (63016) and malformed Content API sends (21654, 21655, 21656, 21658), through the real twilio SDK.
 */
describe('WhatsApp on the emulated Twilio (real twilio SDK)', () => {
  let running: RunningEmulator;
  let whatsapp: TwilioWhatsappProvider;
  let client: ReturnType<typeof twilio>;
  const ctx = { messageId: 'msg-wa', tenantId: 'tenant-a', attempt: 1 };
  const hour = 3_600_000;

  beforeAll(async () => {
    running = await startEmulatorServer();
    whatsapp = new TwilioWhatsappProvider({
      mode: 'sandbox',
      ...SANDBOX.twilio,
      apiUrl: `${running.url}/twilio`,
      statusCallbackUrl: 'https://herald.example.com/webhooks/twilio/status',
      timeoutMs: 2_000,
    });
    // The bare SDK, for requests Herald's adapter never builds (ContentVariables without ContentSid).
    client = twilio(SANDBOX.twilio.accountSid, SANDBOX.twilio.authToken, {
      autoRetry: false,
      httpClient: new (class extends twilio.RequestClient {
        override request<T>(opts: RequestClient.RequestOptions<T>) {
          const uri = new URL(opts.uri);
          return super.request<T>({ ...opts, uri: `${running.url}/twilio${uri.pathname}${uri.search}` });
        }
      })(),
    });
  });
  beforeEach(() => running.emulator.reset());
  afterAll(() => running?.close());

  it("refuses free-form text to a number that never wrote: 63016 with Twilio's message, permanent", async () => {
    const error = await rejection(whatsapp.send({ to: '+14155550201', body: 'Your order shipped' }, ctx));
    expect(error).toMatchObject({ code: '63016', retryable: false, message: OUTSIDE_WINDOW_MESSAGE });
    expect(running.emulator.recorded('twilio')[0]).toMatchObject({ status: 400, response: { code: 63016 } });
  });

  it("takes free-form text within 24 hours of the customer's message to this sender, not after", async () => {
    await customerWrites(running.url, '+14155550202');
    const sent = await whatsapp.send({ to: '+14155550202', body: 'Yes, it shipped' }, ctx);
    expect(sent.providerMessageId).toMatch(/^SM/);

    await customerWrites(running.url, '+14155550203', { at: new Date(Date.now() - 25 * hour) });
    expect(await rejection(whatsapp.send({ to: '+14155550203', body: 'late' }, ctx))).toMatchObject({
      code: '63016',
    });

    await customerWrites(running.url, '+14155550204', { at: new Date(Date.now() - 23 * hour) });
    await expect(whatsapp.send({ to: '+14155550204', body: 'in time' }, ctx)).resolves.toBeDefined();

    // The window belongs to the customer and the sender it wrote to.
    await customerWrites(running.url, '+14155550205', { to: 'whatsapp:+14155559999' });
    expect(await rejection(whatsapp.send({ to: '+14155550205', body: 'x' }, ctx))).toMatchObject({
      code: '63016',
    });
    // The control API lists what customers sent (no Herald webhook here: recorded, not forwarded).
    const received = (await (await fetch(`${running.url}/__emulator/twilio/inbound`)).json()) as {
      from: string;
      forwarded: unknown;
    }[];
    expect(received.map((r) => r.from)).toContain('whatsapp:+14155550202');
    expect(received.every((r) => r.forwarded === null)).toBe(true);
  });

  it('sends a template at any time: ContentSid and ContentVariables (a JSON string), without Body or MediaUrl', async () => {
    const result = await whatsapp.send(
      {
        to: '+14155550206',
        body: '',
        mediaUrls: ['https://cdn.example.com/a.png'],
        template: { contentSid: CONTENT_SID, contentVariables: { 1: 'Ada', 2: '12/1' } },
      },
      ctx,
    );
    expect(result.providerMessageId).toMatch(/^SM/);
    const [request] = running.emulator.recorded('twilio');
    expect(request?.status).toBe(201);
    expect(request?.body).toMatchObject({
      To: 'whatsapp:+14155550206',
      From: SANDBOX.twilio.whatsappFrom,
      ContentSid: CONTENT_SID,
      ContentVariables: '{"1":"Ada","2":"12/1"}',
    });
    expect(request?.body).not.toHaveProperty('Body');
    expect(request?.body).not.toHaveProperty('MediaUrl');
  });

  it('refuses malformed Content API sends as Twilio documents them (21655, 21656, 21658, 21654)', async () => {
    const template = (contentSid: string, contentVariables?: Record<string, unknown>) =>
      rejection(
        whatsapp.send({ to: '+14155550207', body: '', template: { contentSid, contentVariables } }, ctx),
      );
    // https://www.twilio.com/docs/api/errors/21655: ^HX[0-9a-fA-F]{32}$
    expect(await template('HX123')).toMatchObject({ code: '21655', retryable: false });
    expect(await template(`MG${CONTENT_SID.slice(2)}`)).toMatchObject({ code: '21655' });
    // https://www.twilio.com/docs/api/errors/21656: empty values, newlines, tabs, more than four spaces in a row
    for (const value of ['', 'two\nlines', 'a\tb', 'wide     gap', null]) {
      expect(await template(CONTENT_SID, { 1: value })).toMatchObject({ code: '21656', retryable: false });
    }
    // https://www.twilio.com/docs/api/errors/21658: a value over 1,600 characters
    expect(await template(CONTENT_SID, { 1: 'x'.repeat(1_601) })).toMatchObject({ code: '21658' });
    await expect(
      whatsapp.send(
        {
          to: '+14155550207',
          body: '',
          template: { contentSid: CONTENT_SID, contentVariables: { 1: 'x'.repeat(1_600) } },
        },
        ctx,
      ),
    ).resolves.toBeDefined();
    // https://www.twilio.com/docs/api/errors/21654: ContentVariables without ContentSid
    const bare = await client.messages
      .create({
        to: 'whatsapp:+14155550207',
        from: SANDBOX.twilio.whatsappFrom,
        body: 'x',
        contentVariables: '{"1":"Ada"}',
      })
      .then(
        () => undefined,
        (error: unknown) => error as { code: number; status: number },
      );
    expect(bare).toMatchObject({ code: 21654, status: 400 });
    // Not a JSON string
    const notJson = await client.messages
      .create({
        to: 'whatsapp:+14155550207',
        from: SANDBOX.twilio.whatsappFrom,
        contentSid: CONTENT_SID,
        contentVariables: '{1: Ada}',
      })
      .then(
        () => undefined,
        (error: unknown) => error as { code: number },
      );
    expect(notJson).toMatchObject({ code: 21656 });
  });

  it('SMS is not held to a window', async () => {
    const response = await client.messages.create({
      to: '+14155550208',
      from: SANDBOX.twilio.from,
      body: 'no window on SMS',
    });
    expect(response.sid).toMatch(/^SM/);
  });
});
