import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { WebhookUnknowns } from '../../src/services/webhook-unknowns';

/** A real pino logger writing JSON lines into an array. */
function capture() {
  const lines: { level: number; msg: string; kind?: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

describe('WebhookUnknowns: the count and the once-per-kind log line say what happened', () => {
  it('skipped batch elements (malformed, unstorable) are "not stored"; unknown events are "stored and ignored"', async () => {
    const { lines, logger } = capture();
    const unknowns = new WebhookUnknowns(logger);
    unknowns.report('sendgrid', [
      { kind: 'unstorable', detail: '[1].sg_message_id: longer than 256 bytes' },
      { kind: 'malformed', detail: '[2]: an event must be a JSON object' },
      { kind: 'event', detail: 'machine_opened' },
      { kind: 'event', detail: 'teleported' },
    ]);
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => [l.kind, l.msg])).toEqual([
      [
        'unstorable',
        'webhook: sendgrid sent a batch element Herald cannot store (unstorable); skipped, not stored, the rest of the batch stored (logged once per kind)',
      ],
      [
        'malformed',
        'webhook: sendgrid sent a batch element Herald cannot store (malformed); skipped, not stored, the rest of the batch stored (logged once per kind)',
      ],
      [
        'event',
        'webhook: sendgrid sent an event Herald does not know; stored and ignored for status (logged once per kind)',
      ],
    ]);
    const metric = await unknowns.counter.get();
    expect(metric.values.map((v) => [v.labels.kind, v.value])).toEqual([
      ['unstorable', 1],
      ['malformed', 1],
      ['event', 2],
    ]);
  });
});
