import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SANDBOX } from '../../src/config/sandbox';
import { providerRejection as rejection } from '../support/rejection';
import { startEmulatorServer, type RunningEmulator } from '../../src/sandbox/emulator-server';
import { SesProvider } from '../../src/providers/ses.provider';
import { SnsProvider } from '../../src/providers/sns.provider';

/** The real AWS SDK v3 clients (SES v2, SNS) pointed at the emulator by their `endpoint` setting. */
describe('AWS adapters (real SDK v3 → emulator)', () => {
  let running: RunningEmulator;
  let ses: SesProvider;
  let sns: SnsProvider;
  const ctx = { messageId: '6f1c2c1e-7d0b-4f7e-9d55-3f0b8c1d2e3f', tenantId: 'tenant-a', attempt: 1 };
  const aws = { mode: 'sandbox' as const, region: 'eu-west-1', ...SANDBOX.aws, timeoutMs: 500 };

  beforeAll(async () => {
    running = await startEmulatorServer();
    ses = new SesProvider({ ...aws, from: 'noreply@herald.dev', apiUrl: `${running.url}/ses` });
    sns = new SnsProvider({ ...aws, apiUrl: `${running.url}/sns` });
  });
  beforeEach(() => running.emulator.reset());
  afterAll(async () => {
    await ses?.close();
    await sns?.close();
    await running?.close();
  });

  it('SES: SendEmail v2 with a SigV4 signature, simple content, headers, attachments and our message id as a tag', async () => {
    const result = await ses.send(
      {
        to: 'ada@example.com',
        subject: 'Your receipt',
        text: 'Thanks',
        html: '<p>Thanks</p>',
        cc: ['cc@example.com'],
        headers: { 'List-Unsubscribe': '<https://herald.example.com/unsubscribe/t>' },
        attachments: [
          {
            content: Buffer.from('%PDF').toString('base64'),
            filename: 'receipt.pdf',
            type: 'application/pdf',
          },
        ],
      },
      ctx,
    );
    expect(result.providerMessageId).toMatch(/^0100[0-9a-f]{32}-000000$/);
    const [request] = running.emulator.recorded('ses');
    expect(request?.path).toBe('/ses/v2/email/outbound-emails');
    expect(request?.headers.authorization).toMatch(
      new RegExp(`^AWS4-HMAC-SHA256 Credential=${SANDBOX.aws.accessKeyId}/\\d{8}/eu-west-1/ses/aws4_request`),
    );
    expect(request?.body).toMatchObject({
      FromEmailAddress: 'noreply@herald.dev',
      Destination: { ToAddresses: ['ada@example.com'], CcAddresses: ['cc@example.com'] },
      Content: {
        Simple: {
          Subject: { Data: 'Your receipt' },
          Body: { Text: { Data: 'Thanks' }, Html: { Data: '<p>Thanks</p>' } },
          Headers: [{ Name: 'List-Unsubscribe', Value: '<https://herald.example.com/unsubscribe/t>' }],
          Attachments: [
            {
              FileName: 'receipt.pdf',
              ContentType: 'application/pdf',
              RawContent: Buffer.from('%PDF').toString('base64'),
            },
          ],
        },
      },
      EmailTags: expect.arrayContaining([{ Name: 'herald_message_id', Value: ctx.messageId }]) as unknown,
    });
  });

  it('SES: 400 MessageRejected is permanent; 429 (with Retry-After), 503 and a timeout are retryable', async () => {
    const email = { to: 'ada@example.com', subject: 's', text: 't' };
    running.emulator.injectFault({ vendor: 'ses', count: 1, status: 400, code: 'MessageRejected' });
    const rejected = await rejection(ses.send(email, ctx));
    expect(rejected).toMatchObject({ code: 'MessageRejected', retryable: false });

    running.emulator.injectFault({ vendor: 'ses', count: 1, status: 429, retryAfterSeconds: 7 });
    const throttled = await rejection(ses.send(email, ctx));
    expect(throttled).toMatchObject({ code: 'TooManyRequestsException', retryable: true });
    expect(throttled.details.retryAfterMs).toBe(7_000);

    running.emulator.injectFault({ vendor: 'ses', count: 1, status: 503 });
    expect(await rejection(ses.send(email, ctx))).toMatchObject({
      retryable: true,
      details: { status: 503 },
    });

    running.emulator.injectFault({ vendor: 'ses', count: 1, delayMs: 1_500 });
    expect((await rejection(ses.send(email, ctx))).retryable).toBe(true);
  });

  it('SNS: Publish to a phone number, Transactional, media URLs as links in the text', async () => {
    const result = await sns.send(
      { to: '+14155552671', body: 'Your code is 123456', mediaUrls: ['https://cdn.example.com/a.png'] },
      ctx,
    );
    expect(result.providerMessageId).toMatch(/^[0-9a-f-]{36}$/);
    const [request] = running.emulator.recorded('sns');
    expect(request?.headers.authorization).toContain(`Credential=${SANDBOX.aws.accessKeyId}/`);
    expect(request?.headers.authorization).toContain('/eu-west-1/sns/aws4_request');
    expect(request?.body).toMatchObject({
      Action: 'Publish',
      PhoneNumber: '+14155552671',
      Message: 'Your code is 123456\nhttps://cdn.example.com/a.png',
      'MessageAttributes.entry.1.Name': 'AWS.SNS.SMS.SMSType',
      'MessageAttributes.entry.1.Value.StringValue': 'Transactional',
    });
  });

  it('SNS: an invalid number is permanent and marks the address invalid; throttling and 500 are retryable', async () => {
    const rejected = await rejection(sns.send({ to: '+15005550001', body: 'x' }, ctx));
    expect(rejected).toMatchObject({
      code: 'InvalidParameterException',
      retryable: false,
      details: { invalidAddress: true },
    });

    running.emulator.injectFault({ vendor: 'sns', count: 1, status: 400, code: 'Throttling' });
    expect(await rejection(sns.send({ to: '+14155552671', body: 'x' }, ctx))).toMatchObject({
      code: 'Throttling',
      retryable: true,
    });
    running.emulator.injectFault({ vendor: 'sns', count: 1, status: 500 });
    expect(await rejection(sns.send({ to: '+14155552671', body: 'x' }, ctx))).toMatchObject({
      code: 'InternalErrorException',
      retryable: true,
    });
  });

  it('the emulator refuses a foreign access key, as AWS does', async () => {
    const stranger = new SnsProvider({ ...aws, accessKeyId: 'AKIASTRANGER', apiUrl: `${running.url}/sns` });
    const refused = await rejection(stranger.send({ to: '+14155552671', body: 'x' }, ctx));
    expect(refused).toMatchObject({ code: 'InvalidClientTokenId', retryable: false });
    await stranger.close();
  });
});
