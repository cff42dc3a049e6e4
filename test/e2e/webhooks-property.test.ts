import { generateKeyPairSync, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_EVENT_ID_BYTES } from '../../src/providers/webhook.types';
import { useWebhookStack } from '../support/webhooks';

/**
 * Property-based intake (issue 12): random and malformed, correctly signed bodies at each webhook route. Never a
 * 5xx; signed and parseable → 2xx and stored; signed but unparseable → 400; unsigned, forged or stale → 403 and
 * nothing stored. Each run posts one signed case and one refused case together; every row carries the run's nonce.
 */
const RUNS = 1_000;
/** Cases posted concurrently per fast-check run (RUNS / CHUNK runs, RUNS cases in all). */
const CHUNK = 20;
/** An "oversized" id is the nonce plus this many characters: always over MAX_EVENT_ID_BYTES. */
const MAX_ID_BYTES = MAX_EVENT_ID_BYTES;

/** One case's answer: the signed request's and the refused copy's, and what the signed one should have done. */
interface Outcome {
  nonce: string;
  bad: string;
  status: number;
  refused: number;
  expected: { status: number; stored: number };
  body?: unknown;
}

describe('webhook routes under random signed bodies (fast-check)', () => {
  const suite = useWebhookStack();
  const { sender } = suite;
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;

  /** Rows stored for each nonce (the nonce is in every signed field set and every SendGrid element). */
  const rowsFor = async (...nonces: string[]) =>
    (
      await suite.db.query<{ n: number }>(
        `select (select count(*)::int from provider_event where payload::text like '%' || n || '%') n
           from unnest($1::text[]) with ordinality as t(n, i) order by i`,
        [nonces],
      )
    ).rows.map((r) => r.n);

  /** RUNS cases through `post`, CHUNK at a time, checking every property on each. */
  const checkAll = <T>(arb: fc.Arbitrary<T>, post: (c: T) => Promise<Outcome>) =>
    fc.assert(
      fc.asyncProperty(fc.array(arb, { minLength: CHUNK, maxLength: CHUNK }), async (cases) => {
        const outcomes = await Promise.all(cases.map(post));
        const rows = await rowsFor(...outcomes.flatMap((o) => [o.nonce, o.bad]));
        outcomes.forEach((o, i) => {
          const seen = {
            status: o.status,
            stored: rows[2 * i],
            refused: o.refused,
            refusedStored: rows[2 * i + 1],
          };
          const accepted =
            o.expected.status === 200 && o.body !== undefined ? { accepted: o.expected.stored } : undefined;
          expect({ ...seen, body: accepted && o.body }).toEqual({
            ...o.expected,
            refused: 403,
            refusedStored: 0,
            body: accepted,
          });
        });
      }),
      { numRuns: RUNS / CHUNK },
    );

  const text = fc.string({ unit: 'grapheme', maxLength: 24 });
  const fieldName = fc.oneof(
    fc.constantFrom('MessagingBinding.Address', 'ErrorCode', 'NumMedia', 'MediaUrl0', 'Body', 'ApiVersion'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }),
  );
  const fieldValue = fc.oneof(text, fc.array(text, { minLength: 2, maxLength: 3 }));
  /** Fields Herald keys or routes by: the case sets them, random extras never do. */
  const CONTROLLED = ['MessageSid', 'SmsSid', 'SmsMessageSid', 'From', 'To', 'MessageStatus', 'SmsStatus'];
  const extras = fc
    .dictionary(fieldName, fieldValue, { maxKeys: 6 })
    .map((d) => Object.fromEntries(Object.entries(d).filter(([k]) => !CONTROLLED.includes(k))));
  type Sid = 'valid' | 'missing' | 'empty' | 'oversized';
  const sidKind = fc.constantFrom<Sid>('valid', 'valid', 'valid', 'missing', 'empty', 'oversized');
  const sidFor = (kind: Sid, nonce: string) =>
    kind === 'valid'
      ? `SM${nonce}`
      : kind === 'oversized'
        ? `SM${nonce}${'x'.repeat(MAX_ID_BYTES)}`
        : kind === 'empty'
          ? ''
          : undefined;
  const forgery = fc.constantFrom('unsigned', 'wrong-token', 'tampered', 'other-url');

  /** Posts a refused copy of a valid Twilio request and returns its status. */
  const forgedTwilio = (path: string, params: Record<string, string>, kind: string) =>
    sender.twilio(
      path,
      params,
      kind === 'unsigned'
        ? { signature: null }
        : kind === 'wrong-token'
          ? { token: 'forged-token' }
          : kind === 'tampered'
            ? { tamper: (body) => `${body}&Injected=1` }
            : { signUrl: `https://elsewhere.example.com${path}` },
    );

  it(`Twilio status: ${RUNS} random signed callbacks`, { timeout: 600_000 }, async () => {
    await checkAll(
      fc.tuple(
        sidKind,
        fc.oneof(
          fc.constantFrom('queued', 'sent', 'delivered', 'Delivered', 'read', 'receiving', 'canceled'),
          fc.string({ unit: 'grapheme', maxLength: 100 }),
          fc.constant(undefined),
        ),
        fc.option(fc.oneof(fc.uuid(), fc.constant('not-a-uuid')), { nil: undefined }),
        extras,
        forgery,
      ),
      async ([sid, status, hm, more, forged]) => {
        const nonce = randomUUID().replaceAll('-', '');
        const bad = randomUUID().replaceAll('-', '');
        const path = `/webhooks/twilio/status${hm ? `?hm=${hm}` : ''}`;
        const sidValue = sidFor(sid, nonce);
        const params = {
          ...more,
          Nonce: nonce,
          ...(sidValue === undefined ? {} : { MessageSid: sidValue }),
          ...(status === undefined ? {} : { MessageStatus: status }),
        };
        const [res, refused] = await Promise.all([
          sender.twilio(path, params),
          forgedTwilio(path, { MessageSid: `SM${bad}`, MessageStatus: 'delivered', Nonce: bad }, forged),
        ]);
        return {
          nonce,
          bad,
          status: res.status,
          refused: refused.status,
          expected: sid === 'valid' ? { status: 204, stored: 1 } : { status: 400, stored: 0 },
        };
      },
    );
  });

  it(`Twilio inbound: ${RUNS} random signed messages`, { timeout: 600_000 }, async () => {
    const address = fc.oneof(
      fc.constantFrom('+14155550100', 'whatsapp:+14155550100', '', 'whatsapp:'),
      text,
      fc.constant(undefined),
    );
    await checkAll(
      fc.tuple(
        sidKind,
        address,
        address,
        fc.oneof(fc.constantFrom('STOP', 'start', 'HELP', 'stop please'), text),
        extras,
        forgery,
      ),
      async ([sid, from, to, body, more, forged]) => {
        const nonce = randomUUID().replaceAll('-', '');
        const bad = randomUUID().replaceAll('-', '');
        const path = '/webhooks/twilio/inbound';
        const sidValue = sidFor(sid, nonce);
        const params = {
          ...more,
          Nonce: nonce,
          Body: body,
          ...(sidValue === undefined ? {} : { MessageSid: sidValue }),
          ...(from === undefined ? {} : { From: from }),
          ...(to === undefined ? {} : { To: to }),
        };
        const [res, refused] = await Promise.all([
          sender.twilio(path, params),
          forgedTwilio(
            path,
            { MessageSid: `SM${bad}`, From: '+14155550100', To: '+14155238886', Body: 'x', Nonce: bad },
            forged,
          ),
        ]);
        return {
          nonce,
          bad,
          status: res.status,
          refused: refused.status,
          expected: sid === 'valid' && from && to ? { status: 200, stored: 1 } : { status: 400, stored: 0 },
        };
      },
    );
  });

  it(`SendGrid events: ${RUNS} random signed batches`, { timeout: 600_000 }, async () => {
    type Id = 'valid' | 'missing' | 'empty' | 'number' | 'oversized';
    const element = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          extras: fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
          event: fc.option(
            fc.oneof(
              fc.constantFrom('processed', 'delivered', 'open', 'bounce', 'dropped', 'unsubscribe'),
              fc.constantFrom('account_status_change', 'machine_opened', 'Delivered'),
              fc.jsonValue({ maxDepth: 1 }),
            ),
            { nil: undefined },
          ),
          id: fc.constantFrom<Id>('valid', 'valid', 'missing', 'empty', 'number', 'oversized'),
          messageId: fc.option(fc.oneof(text, fc.integer(), fc.string({ minLength: 300, maxLength: 400 })), {
            nil: undefined,
          }),
          timestamp: fc.option(
            fc.oneof(fc.integer(), fc.double(), fc.constant(1e300), fc.string({ maxLength: 12 })),
            { nil: undefined },
          ),
          heraldMessageId: fc.option(fc.oneof(fc.uuid(), text), { nil: undefined }),
          type: fc.option(fc.constantFrom('compliance_suspend', 'reactivate', 'bounce', 'blocked'), {
            nil: undefined,
          }),
        }),
      },
      { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.constant(null), text, fc.array(fc.integer())) },
    );
    const SHAPE = [
      'event',
      'sg_event_id',
      'sg_message_id',
      'timestamp',
      'herald_message_id',
      'type',
      'nonce',
    ];
    const body = fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          kind: fc.constant('batch' as const),
          batch: fc.array(element, { maxLength: 5 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('raw' as const),
          raw: fc.oneof(
            fc.constantFrom('{not json', '[{"event":"open"', '', 'null', '{"event":"delivered"}', '"[]"'),
            fc
              .jsonValue()
              .filter((v) => !Array.isArray(v))
              .map((v) => JSON.stringify(v) ?? ''),
            fc
              .uint8Array({ minLength: 1, maxLength: 40 })
              .map((b) => Buffer.concat([Buffer.from('[{"e":"'), Buffer.from([0xff, 0xfe]), Buffer.from(b)])),
          ),
        }),
      },
    );
    const refusal = fc.constantFrom('unsigned', 'other-key', 'tampered', 'stale', 'future', 'garbage');
    await checkAll(fc.tuple(body, refusal), async ([input, refused]) => {
      const nonce = randomUUID().replaceAll('-', '');
      const bad = randomUUID().replaceAll('-', '');
      let payload: string | Buffer;
      let expected: { status: number; stored: number };
      if (input.kind === 'raw') {
        payload = input.raw;
        expected = { status: 400, stored: 0 };
      } else {
        let storable = 0;
        const events = input.batch.map((spec, i) => {
          if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return spec;
          const event: Record<string, unknown> = Object.fromEntries(
            Object.entries(spec.extras).filter(([k]) => !SHAPE.includes(k)),
          );
          const set = (key: string, value: unknown) => {
            if (value !== undefined) event[key] = value;
          };
          set('event', spec.event);
          set(
            'sg_event_id',
            {
              valid: `${nonce}-${i}`,
              missing: undefined,
              empty: '',
              number: i,
              oversized: `${nonce}${'e'.repeat(MAX_ID_BYTES)}`,
            }[spec.id],
          );
          // A plain sg_message_id is unique per element, so two elements never share a fallback key.
          set(
            'sg_message_id',
            typeof spec.messageId === 'string' ? `${nonce}-${i}.${spec.messageId}` : spec.messageId,
          );
          set('timestamp', spec.timestamp);
          set('herald_message_id', spec.heraldMessageId);
          set('type', spec.type);
          event.nonce = `${nonce}-${i}`;
          if (spec.id !== 'oversized') storable += 1;
          return event;
        });
        payload = JSON.stringify(events);
        expected =
          events.length > 0 && storable === 0
            ? { status: 400, stored: 0 }
            : { status: 200, stored: storable };
      }
      const valid = [{ event: 'delivered', sg_event_id: bad, nonce: bad, timestamp: 1 }];
      const now = Math.floor(Date.now() / 1000);
      const [res, forged] = await Promise.all([
        sender.sendgrid(payload),
        sender.sendgrid(
          valid,
          refused === 'unsigned'
            ? { signature: null }
            : refused === 'other-key'
              ? { key: otherKey }
              : refused === 'tampered'
                ? { tamper: (b) => b.replace('delivered', 'click') }
                : refused === 'stale'
                  ? { timestamp: String(now - suite.stack.config.webhooks.sendgrid!.maxAgeSeconds - 60) }
                  : refused === 'future'
                    ? { timestamp: String(now + suite.stack.config.webhooks.sendgrid!.maxSkewSeconds + 60) }
                    : { signature: 'bm90IGEgc2lnbmF0dXJl' },
        ),
      ]);
      return {
        nonce,
        bad,
        status: res.status,
        refused: forged.status,
        expected,
        body: res.status === 200 ? await res.json() : undefined,
      };
    });
  });
});
