import { describe, expect, it } from 'vitest';
import { SANDBOX } from '../../src/config/sandbox';
import {
  MAX_RECORDED_BYTES,
  MAX_RECORDED_STRING_CHARS,
  truncatedMarker,
} from '../../src/sandbox/recording-budget';
import { TEST_SEND_CONTEXT, useEmulatorProviders } from '../support/providers';

/**
 * The sandbox emulator kept every request body whole (up to 10,000 of them, each up to 2 MB): about 100 large emails
 * took `npm start`'s API down. It keeps what development and tests read (every request, its small fields) and cuts
 * the rest: long strings, and the oldest recordings past a byte budget.
 */
describe('sandbox emulator recordings: bounded in bytes, not only in count', () => {
  const suite = useEmulatorProviders();

  it('20 emails of ~2 MB through the real SendGrid adapter are all recorded, their long bodies cut with a marker giving the length', async () => {
    const html = `<p>${'h'.repeat(999_993)}</p>`;
    const text = 't'.repeat(980_000);
    for (let i = 0; i < 20; i += 1)
      await suite.sendgrid.send(
        { to: `big-${i}@example.com`, subject: `Large ${i}`, text, html },
        { ...TEST_SEND_CONTEXT, messageId: `msg-${i}` },
      );
    const recorded = suite.running.emulator.recorded('sendgrid');
    // Every request is still there (tests and GET /sandbox/messages count them), small fields whole.
    expect(recorded).toHaveLength(20);
    for (const [i, request] of recorded.entries()) {
      const body = request.body as {
        subject: string;
        personalizations: { to: { email: string }[] }[];
        content: { type: string; value: string }[];
      };
      expect(body.subject).toBe(`Large ${i}`);
      expect(body.personalizations[0].to[0].email).toBe(`big-${i}@example.com`);
      expect(body.content).toEqual([
        { type: 'text/plain', value: text.slice(0, MAX_RECORDED_STRING_CHARS) + truncatedMarker(980_000) },
        { type: 'text/html', value: html.slice(0, MAX_RECORDED_STRING_CHARS) + truncatedMarker(1_000_000) },
      ]);
    }
    expect(truncatedMarker(1_000_000)).toBe(
      '… [truncated by the sandbox emulator: 1000000 characters in all]',
    );
    // What they hold: about 2 × 16 KiB each, not 2 MB.
    expect(suite.running.emulator.recordingBytes()).toBeLessThan(20 * 3 * MAX_RECORDED_STRING_CHARS);
  });

  it('past MAX_RECORDED_BYTES (32 MiB) the oldest recordings go first; the newest is kept', async () => {
    // Each body keeps 100 strings of 16 KiB after cutting, about 1.6 MB: 30 of them are ~50 MB.
    const content = Array.from({ length: 100 }, (_, i) => ({
      type: 'text/plain',
      value: `${i}`.padEnd(MAX_RECORDED_STRING_CHARS, 'x'),
    }));
    for (let i = 0; i < 30; i += 1) {
      const response = await fetch(`${suite.running.url}/sendgrid/v3/mail/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${SANDBOX.sendgrid.apiKey}` },
        body: JSON.stringify({
          personalizations: [{ to: [{ email: `budget-${i}@example.com` }] }],
          from: { email: 'noreply@herald.dev' },
          subject: `budget ${i}`,
          content,
        }),
      });
      await response.arrayBuffer();
    }
    const subjects = suite.running.emulator
      .recorded('sendgrid')
      .map((r) => (r.body as { subject: string }).subject);
    expect(subjects.length).toBeLessThan(30);
    expect(subjects.length).toBeGreaterThan(0);
    // The newest, in order, without a gap: only the oldest were dropped.
    expect(subjects).toEqual(
      Array.from({ length: subjects.length }, (_, k) => `budget ${30 - subjects.length + k}`),
    );
    expect(suite.running.emulator.recordingBytes()).toBeLessThanOrEqual(MAX_RECORDED_BYTES);
  });
});
