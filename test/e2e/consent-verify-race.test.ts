import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GrantConsentDocument,
  UpdateContactDocument,
  VerifyConsentDocument,
} from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

/** CODE_TRIES in consent.service.ts: wrong codes a verification takes before it locks. */
const TRIES = 5;
const GUESSES = 30;

/** The tries of an SMS consent code hold when wrong codes arrive all at once (the worker sends the code). */
describe('consent verification tries under concurrent guesses', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ extraEnv: { RATE_LIMIT_ENABLED: 'false' } });
  });
  afterAll(() => stack?.close());

  it(`${GUESSES} wrong codes at once: ${TRIES} are counted as tries, then the code is locked`, async () => {
    const userId = `u-${randomUUID()}`;
    await executeOk(stack.url, UpdateContactDocument, { userId, input: { phone: '+14155550123' } });
    await executeOk(stack.url, GrantConsentDocument, {
      input: { userId, channel: 'SMS', source: 'web_form' },
    });
    const sms = await waitFor(() => Promise.resolve(stack.emulator.emulator.recorded('twilio')[0]));
    const code = /code is (\d{6})/.exec(String((sms.body as { Body: string }).Body))![1];
    const wrong = code === '000000' ? '111111' : '000000';
    const answers = await Promise.all(
      Array.from({ length: GUESSES }, () =>
        execute(stack.url, VerifyConsentDocument, { input: { userId, channel: 'SMS', code: wrong } }),
      ),
    );
    const messages = answers.map((a) => a.errors?.[0]?.message ?? 'accepted');
    const counted = messages.filter((m) => /wrong code|too many wrong codes/.test(m));
    expect(counted).toHaveLength(TRIES);
    expect(messages.filter((m) => m.includes('too many wrong codes'))).toHaveLength(1);
    expect(messages.filter((m) => m.includes('no SMS verification is pending'))).toHaveLength(
      GUESSES - TRIES,
    );
    // Locked: even the right code is refused now.
    const late = await execute(stack.url, VerifyConsentDocument, { input: { userId, channel: 'SMS', code } });
    expect(late.errors?.[0]?.message).toContain('no SMS verification is pending');
  }, 60_000);
});
