import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import { describe, expect, it } from 'vitest';
import { SANDBOX } from '../../src/config/sandbox';
import { checkFcmTopic } from '../../src/providers/fcm-target';
import { SENDGRID_LIMITS } from '../../src/providers/vendor-limits';
import { providerRejection as rejection } from '../support/rejection';
import { TEST_SEND_CONTEXT as ctx, useEmulatorProviders } from '../support/providers';
import { customerWrites } from '../support/whatsapp';

/**
 * Each vendor's documented limits (src/providers/vendor-limits.ts, with sources), sent through the real SDK to the
 * emulator: at the limit the vendor takes the request, one over it refuses it in its own error shape, and Herald's
 * adapter classifies the refusal as permanent. The numbers are the sources' own.
 */
describe('vendor limits: the emulator refuses what the vendor refuses (real SDKs → emulator)', () => {
  const suite = useEmulatorProviders();
  const statuses = (vendor: 'twilio' | 'sendgrid' | 'fcm') =>
    suite.running.emulator.recorded(vendor).map((r) => r.status);

  describe('FCM (firebase-admin)', () => {
    const push = (data: Record<string, string>, target: object = { token: 'tok-1' }, extra: object = {}) =>
      suite.fcm.send({ target: target as { token: string }, data, ...extra }, ctx);

    it('the issue’s data { from, "google.c.a.e", message_type, orderId }: 400 INVALID_ARGUMENT "Invalid data payload key: from", permanent', async () => {
      const error = await rejection(
        push({ from: 'shop', 'google.c.a.e': '1', message_type: 'order', orderId: '42' }),
      );
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', retryable: false });
      expect(error.message).toBe('Invalid data payload key: from');
      const [request] = suite.running.emulator.recorded('fcm');
      expect(request).toMatchObject({
        status: 400,
        response: {
          error: {
            code: 400,
            status: 'INVALID_ARGUMENT',
            message: 'Invalid data payload key: from',
            details: [
              {
                '@type': 'type.googleapis.com/google.rpc.BadRequest',
                fieldViolations: [{ field: 'message.data' }],
              },
            ],
          },
        },
      });
    });

    it.each(['from', 'message_type', 'notification', 'google.c.a.e', 'google', 'gcm.n.e', 'gcm'])(
      'reserved key %j is refused',
      async (key) => {
        const error = await rejection(push({ [key]: 'x' }));
        expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', retryable: false });
        expect(error.message).toBe(`Invalid data payload key: ${key}`);
      },
    );

    it('keys FCM does not reserve are sent, collapse_key included ("allowed in the payload", ErrorCode page)', async () => {
      await push({ collapse_key: 'c', fromage: 'brie', orderId: '42', messageType: 't', Google: 'g' });
      expect(statuses('fcm')).toEqual([200]);
    });

    it.each([
      { target: { token: 'tok-1' }, limit: 4_096 },
      { target: { topic: 'news' }, limit: 2_048 },
      { target: { condition: "'news' in topics" }, limit: 2_048 },
    ])(
      'payload of $limit bytes to $target is sent, one byte more is "Message is too big"',
      async ({ target, limit }) => {
        // "k" (1 byte) + the value: keys count as much as values.
        await push({ k: 'x'.repeat(limit - 1) }, target);
        const error = await rejection(push({ k: 'x'.repeat(limit) }, target));
        expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', retryable: false });
        expect(error.message).toMatch(/^Message is too big: \d+ bytes/);
        expect(statuses('fcm')).toEqual([200, 400]);
      },
    );

    it('the notification’s keys and values count toward the 4,096 bytes with data’s, in UTF-8 bytes', async () => {
      // title+"T" = 6, body+"é" = 6 (é is 2 bytes), image+url; data "k" + value.
      const image = 'https://cdn.example.com/i.png';
      const notification = 6 + 6 + 'image'.length + image.length;
      const extra = { title: 'T', body: 'é', imageUrl: image };
      await push({ k: 'x'.repeat(4_096 - notification - 1) }, { token: 'tok-1' }, extra);
      await rejection(push({ k: 'x'.repeat(4_096 - notification) }, { token: 'tok-1' }, extra));
      expect(statuses('fcm')).toEqual([200, 400]);
    });

    it('a data value that is not a string: FCM’s own example "Invalid value at \'message.data[0].value\' (TYPE_STRING), 12"', async () => {
      // firebase-admin refuses this before sending, so it is posted as JSON the way FCM's docs show it.
      const response = await fetch(
        `${suite.running.url}/fcm/v1/projects/${SANDBOX.fcm.projectId}/messages:send`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${SANDBOX.fcm.accessToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message: { token: 'tok-1', data: { count: 12 } } }),
        },
      );
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: {
          code: 400,
          message: "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
          status: 'INVALID_ARGUMENT',
          details: [
            {
              '@type': 'type.googleapis.com/google.rpc.BadRequest',
              fieldViolations: [
                {
                  field: 'message.data[0].value',
                  description: "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
                },
              ],
            },
          ],
        },
      });
    });
    it('a request over the emulator parser’s 1 MB is FCM’s 400 INVALID_ARGUMENT "Message is too big", not an HTML 413 (break12)', async () => {
      const error = await rejection(push({ k: 'x'.repeat(1_100_000) }));
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', retryable: false });
      expect(error.message).toMatch(/^Message is too big/);
      expect(suite.running.emulator.recorded('fcm')).toMatchObject([
        { status: 400, response: { error: { code: 400, status: 'INVALID_ARGUMENT' } } },
      ]);
    });
  });

  describe('FCM targets: topics and conditions (src/providers/fcm-target.ts)', () => {
    const five = ['a', 'b', 'c', 'd', 'e'].map((t) => `'${t}' in topics`).join(' || ');
    /** A raw v1 send, as a client that is not firebase-admin (which checks topics itself) would make it. */
    const raw = async (message: object) => {
      const response = await fetch(
        `${suite.running.url}/fcm/v1/projects/${SANDBOX.fcm.projectId}/messages:send`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${SANDBOX.fcm.accessToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message: { notification: { title: 'T' }, ...message } }),
        },
      );
      return { status: response.status, body: (await response.json()) as { error?: object } };
    };
    const refusedOn = (field: string, description: string) => ({
      status: 400,
      body: {
        error: {
          code: 400,
          status: 'INVALID_ARGUMENT',
          message: 'Request contains an invalid argument.',
          details: [
            {
              '@type': 'type.googleapis.com/google.rpc.BadRequest',
              fieldViolations: [{ field, description }],
            },
          ],
        },
      },
    });

    it.each([
      "'TopicA' in topics && ('TopicB' in topics || 'TopicC' in topics)",
      "'stock-GOOG' in topics || 'industry-tech' in topics",
      "!('TopicA' in topics)",
      five,
    ])('the guide’s condition %j is sent through firebase-admin', async (condition) => {
      await suite.fcm.send({ target: { condition }, title: 'T' }, ctx);
      expect(statuses('fcm')).toEqual([200]);
    });

    it.each([
      `${five} || 'f' in topics`,
      'drop table',
      "'a' in topics &&",
      "('a' in topics",
      '"a" in topics',
      "'a b' in topics",
    ])(
      'condition %j: firebase-admin sends it, FCM answers 400 "Invalid condition expression provided.", permanent',
      async (condition) => {
        const error = await rejection(suite.fcm.send({ target: { condition }, title: 'T' }, ctx));
        expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', retryable: false });
        expect(suite.running.emulator.recorded('fcm')).toMatchObject([
          { response: refusedOn('message.condition', 'Invalid condition expression provided.').body },
        ]);
      },
    );

    it.each(['a b/c', '/topics/news', 'café', ''])(
      'a raw send to topic %j is 400 INVALID_ARGUMENT on message.topic',
      async (topic) => {
        const answer = await raw({ topic });
        if (topic === '') {
          // An empty topic is no target at all.
          expect(answer).toMatchObject({ status: 400, body: { error: { status: 'INVALID_ARGUMENT' } } });
          return;
        }
        expect(answer).toEqual(refusedOn('message.topic', `Invalid topic name: ${JSON.stringify(topic)}.`));
      },
    );

    it.each(['news', '/topics/news', 'A-Z_a.z~0%9', 'a b/c', 'news/sport', 'café', '/topics/', "it's"])(
      'topic %j: Herald’s accept rule and firebase-admin agree; what firebase-admin refuses is permanent INVALID_PAYLOAD, never sent',
      async (topic) => {
        const herald = checkFcmTopic(topic);
        const outcome = await suite.fcm.send({ target: { topic }, title: 'T' }, ctx).then(
          () => 'sent' as const,
          (error: unknown) => error,
        );
        if ('value' in herald) {
          expect(outcome).toBe('sent');
          expect(suite.running.emulator.recorded('fcm')).toMatchObject([
            { status: 200, body: { message: { topic: herald.value } } },
          ]);
        } else {
          expect(outcome).toMatchObject({
            code: 'INVALID_PAYLOAD',
            retryable: false,
            message: 'Malformed topic name',
          });
          expect(suite.running.emulator.recorded('fcm')).toEqual([]);
        }
      },
    );

    it('a raw send naming two targets is 400 INVALID_ARGUMENT (Message.target is a oneof); one is sent', async () => {
      expect(await raw({ topic: 'news', condition: "'news' in topics" })).toEqual(
        refusedOn('message', 'Exactly one of token, topic or condition may be set.'),
      );
      expect(await raw({ token: 'tok', topic: 'news' })).toMatchObject({ status: 400 });
      expect((await raw({ topic: 'news' })).status).toBe(200);
      expect((await raw({ condition: "'news' in topics" })).status).toBe(200);
    });
  });

  describe('Twilio (twilio SDK)', () => {
    const media = (n: number) => Array.from({ length: n }, (_, i) => `https://cdn.example.com/${i}.png`);

    it.each([
      ['SMS', () => suite.twilioSms],
      ['WhatsApp', () => suite.twilioWhatsapp],
    ])('%s: a body of 1,600 characters is sent, 1,601 is 21617 (permanent)', async (name, provider) => {
      // Free-form WhatsApp only inside the customer's 24-hour window (whatsapp-emulator.test.ts).
      if (name === 'WhatsApp') await customerWrites(suite.running.url, '+14155552671');
      await provider().send({ to: '+14155552671', body: 'a'.repeat(1_600) }, ctx);
      const error = await rejection(provider().send({ to: '+14155552671', body: 'a'.repeat(1_601) }, ctx));
      expect(error).toMatchObject({ code: '21617', retryable: false });
      expect(statuses('twilio')).toEqual([201, 400]);
    });

    it('a form over the emulator parser’s 1 MB (a 1.1 MB body) is Twilio’s 21617 JSON, not SendGrid’s HTML 413 (break12)', async () => {
      const error = await rejection(
        suite.twilioSms.send({ to: '+14155552671', body: 'a'.repeat(1_100_000) }, ctx),
      );
      expect(error).toMatchObject({ code: '21617', retryable: false });
      expect(suite.running.emulator.recorded('twilio')).toMatchObject([
        {
          status: 400,
          response: {
            code: 21617,
            message: 'The concatenated message body exceeds the 1600 character limit.',
            more_info: 'https://www.twilio.com/docs/errors/21617',
            status: 400,
          },
        },
      ]);
    });

    it('10 MediaUrl are sent, 11 are 21623 "Number of media files exceeds allowed limit" (permanent)', async () => {
      await suite.twilioSms.send({ to: '+14155552671', body: 'pics', mediaUrls: media(10) }, ctx);
      expect(suite.running.emulator.recorded('twilio')[0]?.response).toMatchObject({ num_media: '10' });
      const error = await rejection(
        suite.twilioSms.send({ to: '+14155552671', body: 'pics', mediaUrls: media(11) }, ctx),
      );
      expect(error).toMatchObject({ code: '21623', retryable: false });
      expect(error.message).toMatch(/^Number of media files exceeds allowed limit/);
      expect(suite.running.emulator.recorded('twilio')[1]?.response).toMatchObject({
        code: 21623,
        status: 400,
      });
    });

    it('WhatsApp keeps one media and ignores the rest, as Twilio does (so Herald refuses more at accept)', async () => {
      await customerWrites(suite.running.url, '+14155552671');
      await suite.twilioWhatsapp.send({ to: '+14155552671', body: 'pics', mediaUrls: media(3) }, ctx);
      expect(suite.running.emulator.recorded('twilio')[0]?.response).toMatchObject({ num_media: '1' });
    });
  });

  describe('SendGrid (@sendgrid/mail)', () => {
    const addresses = (n: number, prefix: string) =>
      Array.from({ length: n }, (_, i) => `${prefix}${i}@example.com`);
    /** The SDK with a request of its own shape (Herald's adapter sends one personalization). */
    const mail = () => {
      const client = new Client();
      client.setApiKey(SANDBOX.sendgrid.apiKey);
      client.setDefaultRequest('baseUrl', `${suite.running.url}/sendgrid`);
      const service = new MailService();
      service.setClient(client);
      return service;
    };

    it('1,000 recipients (to + cc + bcc) are sent; 1,001 are 400 "There is a limit of 1000 total recipients" (permanent)', async () => {
      const email = (cc: number) => ({
        to: 'a@example.com',
        subject: 's',
        text: 't',
        cc: addresses(cc, 'cc'),
      });
      await suite.sendgrid.send(email(999), ctx);
      const error = await rejection(suite.sendgrid.send(email(1_000), ctx));
      expect(error).toMatchObject({ code: '400', retryable: false });
      expect(error.message).toBe('There is a limit of 1000 total recipients (to + cc + bcc) per request.');
      expect(statuses('sendgrid')).toEqual([202, 400]);
    });

    it('1,000 personalizations are sent; 1,001 are 400 naming the count', async () => {
      const send = (n: number) =>
        mail().send({
          from: 'noreply@herald.dev',
          subject: 's',
          text: 't',
          personalizations: addresses(n, 'p').map((email) => ({ to: [{ email }] })),
        });
      await send(1_000);
      const refused = await send(1_001).then(
        () => undefined,
        (e: { code?: number; response?: { body?: unknown } }) => e,
      );
      expect(refused?.code).toBe(400);
      expect(refused?.response?.body).toEqual({
        errors: [
          {
            message:
              'The personalization block is limited to 1000 personalizations per API request. You have provided 1001 personalizations. Please consider splitting this into multiple requests and resending your request.',
            field: 'personalizations',
            help: null,
          },
        ],
      });
    });

    describe('malformed mail: SendGrid’s 400 and error body, never a 500 (break12)', () => {
      /** The SDK's own HTTP client, which sends any body as JSON. */
      const post = async (body: unknown) => {
        const client = new Client();
        client.setApiKey(SANDBOX.sendgrid.apiKey);
        client.setDefaultRequest('baseUrl', `${suite.running.url}/sendgrid`);
        return client.request({ method: 'POST', url: '/v3/mail/send', body: body as object }).then(
          ([response]) => ({ status: response.statusCode, body: response.body }),
          (e: { code?: number; response?: { body?: unknown } }) => ({
            status: e.code,
            body: e.response?.body,
          }),
        );
      };
      const good = {
        personalizations: [{ to: [{ email: 'a@example.com' }] }],
        from: { email: 'noreply@herald.dev' },
        subject: 's',
        content: [{ type: 'text/plain', value: 't' }],
      };
      const problem = (message: string, field: string | null) => ({ message, field, help: null });
      const SUBJECT =
        'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.';

      it.each([
        [
          'personalizations as an object',
          { ...good, personalizations: { to: [{ email: 'a@example.com' }] } },
          [problem('Invalid type. Expected: array, given: object.', 'personalizations')],
        ],
        [
          '`to` not an array',
          { ...good, personalizations: [{ to: { email: 'a@example.com' } }] },
          [problem('Invalid type. Expected: array, given: object.', 'personalizations.0.to')],
        ],
        [
          'an invalid `to` email',
          { ...good, personalizations: [{ to: [{ email: 'not an email' }] }] },
          [problem('Does not contain a valid address.', 'personalizations.0.to.0.email')],
        ],
        [
          'a `to` entry without an email',
          { ...good, personalizations: [{ to: [{ name: 'Ann' }] }] },
          [
            problem(
              'Each to object must at least have an email address and may also contain a name. e.g. {"email": "example@example.com"} or {"email": "example@example.com", "name": "Example Recipient"}',
              'personalizations.0.to.0.email',
            ),
          ],
        ],
        [
          'no personalizations',
          { ...good, personalizations: [] },
          [
            problem(
              'The personalizations field is required and must have at least one personalization.',
              'personalizations',
            ),
          ],
        ],
        [
          'a personalization without `to`',
          { ...good, personalizations: [{ cc: [{ email: 'c@example.com' }] }] },
          [
            problem(
              'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
              'personalizations.0.to',
            ),
          ],
        ],
        [
          'the same address in to and cc',
          {
            ...good,
            personalizations: [{ to: [{ email: 'a@example.com' }], cc: [{ email: 'A@example.com' }] }],
          },
          [
            problem(
              'Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [a@example.com] in the personalizations.0.cc field.',
              'personalizations.0',
            ),
          ],
        ],
        [
          'no content',
          { ...good, content: undefined },
          [
            problem(
              'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.',
              'content',
            ),
          ],
        ],
        [
          'an empty content value',
          { ...good, content: [{ type: 'text/plain', value: '' }] },
          [
            problem(
              'The content value must be a string at least one character in length.',
              'content.0.value',
            ),
          ],
        ],
        ['an empty subject', { ...good, subject: '' }, [problem(SUBJECT, 'subject')]],
        ['no subject', { ...good, subject: undefined }, [problem(SUBJECT, 'subject')]],
        [
          'no from',
          { ...good, from: undefined },
          [
            problem(
              'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.',
              'from.email',
            ),
          ],
        ],
        [
          'everything wrong at once',
          { personalizations: 'x', subject: 7, content: {} },
          [
            problem('Invalid type. Expected: array, given: string.', 'personalizations'),
            expect.objectContaining({ field: 'from.email' }),
            problem('Invalid type. Expected: string, given: integer.', 'subject'),
            problem('Invalid type. Expected: array, given: object.', 'content'),
          ],
        ],
      ])('%s → 400 with SendGrid’s errors', async (_name, mail, errors) => {
        expect(await post(mail)).toEqual({ status: 400, body: { errors } });
        expect(statuses('sendgrid')).toEqual([400]);
      });

      it.each([
        ['a whole request', good],
        [
          'a template without subject or content',
          { ...good, subject: undefined, content: undefined, template_id: 'd-1' },
        ],
        [
          'a subject in every personalization instead of the mail’s',
          {
            ...good,
            subject: undefined,
            personalizations: [{ to: [{ email: 'a@example.com' }], subject: 'p' }],
          },
        ],
      ])('%s → 202', async (_name, mail) => {
        expect((await post(mail)).status).toBe(202);
      });

      it('a body that is not JSON → 400 "Bad Request"', async () => {
        const response = await fetch(`${suite.running.url}/sendgrid/v3/mail/send`, {
          method: 'POST',
          headers: { authorization: `Bearer ${SANDBOX.sendgrid.apiKey}`, 'content-type': 'application/json' },
          body: '{"personalizations":',
        });
        expect(response.status).toBe(400);
        expect(await response.json()).toEqual({ errors: [problem('Bad Request', null)] });
      });

      it('Herald’s adapter classifies an empty subject as permanent', async () => {
        const error = await rejection(
          suite.sendgrid.send({ to: 'a@example.com', subject: '', text: 't' }, ctx),
        );
        expect(error).toMatchObject({ code: '400', retryable: false, message: SUBJECT });
      });
    });

    it('an email of 30 MB or more is 413 Request Entity Too Large (permanent); one byte under is sent', async () => {
      const error = await rejection(
        suite.sendgrid.send({ to: 'a@example.com', subject: 's', text: 'x'.repeat(31 * 1024 * 1024) }, ctx),
      );
      expect(error).toMatchObject({ code: '413', retryable: false });
      // The exact boundary, in request bytes: posted as the SDK would, padded to the size.
      const post = (bytes: number) => {
        const shell = (pad: string) =>
          JSON.stringify({
            personalizations: [{ to: [{ email: 'a@example.com' }] }],
            from: { email: 'noreply@herald.dev' },
            subject: 's',
            content: [{ type: 'text/plain', value: pad }],
          });
        const body = shell('x'.repeat(bytes - shell('').length));
        expect(Buffer.byteLength(body)).toBe(bytes);
        return fetch(`${suite.running.url}/sendgrid/v3/mail/send`, {
          method: 'POST',
          headers: { authorization: `Bearer ${SANDBOX.sendgrid.apiKey}`, 'content-type': 'application/json' },
          body,
        });
      };
      expect((await post(SENDGRID_LIMITS.maxRequestBytes)).status).toBe(202);
      const over = await post(SENDGRID_LIMITS.maxRequestBytes + 1);
      expect(over.status).toBe(413);
      expect(await over.text()).toContain('413 Request Entity Too Large');
    });
  });
});
