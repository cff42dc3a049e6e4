import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CheckConsentDocument,
  SendNotificationDocument,
  UpdateContactDocument,
} from '../support/generated/graphql';
import { executeOk } from '../support/graphql';
import { useWebhookStack } from '../support/webhooks';

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

/**
 * Issue 12, opt-out words: replies through the real, signed Twilio inbound webhook. The rule and its sources are in
 * src/domain/reply-keywords.ts (47 CFR 64.1200(a)(10), FCC 24-24; Twilio's default keywords; CTIA); its full table is
 * test/unit/reply-keywords.test.ts. Here: what each kind of reply does to consent and what is stored.
 */
describe('opt-out replies through the signed Twilio inbound webhook', () => {
  const suite = useWebhookStack();
  let nextPhone = 200;

  /** A user whose contact has a fresh number (+1 415 555 02xx), so each case has its own consent state. */
  const newUser = async () => {
    const userId = `u-${randomUUID()}`;
    const phone = `+1415555${String(nextPhone++).padStart(4, '0')}`;
    await executeOk(suite.stack.url, UpdateContactDocument, { userId, input: { phone } });
    return { userId, phone };
  };
  const reply = async (from: string, body: string) => {
    const sid = `SM${randomUUID().replace(/-/g, '')}`;
    const response = await suite.sender.twilio('/webhooks/twilio/inbound', {
      MessageSid: sid,
      From: from,
      To: '+15005550006',
      Body: body,
      NumMedia: '0',
    });
    expect(response.status).toBe(200);
    return { sid, twiml: await response.text() };
  };
  const check = async (userId: string) =>
    (
      await executeOk(suite.stack.url, CheckConsentDocument, {
        userId,
        channel: 'SMS',
        type: 'adhoc',
      })
    ).checkConsent;
  const stored = async (sid: string) =>
    (
      await suite.db.query<{
        user_id: string;
        body: string;
        keyword: string | null;
        possible_opt_out: boolean;
      }>(
        'select user_id, body, keyword, possible_opt_out from inbound_message where provider_message_id = $1',
        [sid],
      )
    ).rows;
  const ledger = async (userId: string) =>
    (
      await suite.db.query<{ action: string; status: string; source: string; reason: string }>(
        'select action, status, source, reason from consent_event where user_id = $1 order by occurred_at',
        [userId],
      )
    ).rows;

  it.each([
    ['Opt out', 'OPT OUT'],
    ['opt-out', 'OPT OUT'],
    ['Stop please', 'STOP PLEASE'],
    ['STOP.', 'STOP'],
    ['ＳＴＯＰ', 'STOP'],
    ['STOP texting me', 'STOP TEXTING ME'],
    ['🛑 stop', 'STOP'],
    // Invisible characters, combining marks and controls do not split or hide the word (break12 finding 1).
    ['S\u200BTOP', 'STOP'],
    ['S\u00ADTOP', 'STOP'],
    ['S\u{E0054}TOP', 'STOP'],
    ['S\u0336T\u0336O\u0336P\u0336', 'STOP'],
    ['STOP\u0007', 'STOP'],
  ])('%j revokes SMS consent (checkConsent opted_out, ledger REVOKE by keyword)', async (body, reason) => {
    const { userId, phone } = await newUser();
    expect(await check(userId)).toEqual({ canSend: true, reason: 'transactional_allowed' });

    const { sid, twiml } = await reply(phone, body);

    expect(twiml).toBe(EMPTY_TWIML);
    expect(await check(userId)).toEqual({ canSend: false, reason: 'opted_out' });
    expect(await ledger(userId)).toEqual([
      { action: 'REVOKE', status: 'REVOKED', source: 'keyword', reason },
    ]);
    expect(await stored(sid)).toEqual([{ user_id: userId, body, keyword: 'STOP', possible_opt_out: false }]);
  });

  it.each(['End of day works', "please don't stop", 'Stop sending me these messages now', 'PLEASE CANCEL'])(
    '%j leaves consent untouched and is stored flagged possible_opt_out',
    async (body) => {
      const { userId, phone } = await newUser();

      const { sid, twiml } = await reply(phone, body);

      expect(twiml).toBe(EMPTY_TWIML);
      expect(await check(userId)).toEqual({ canSend: true, reason: 'transactional_allowed' });
      expect(await ledger(userId)).toEqual([]);
      expect(await stored(sid)).toEqual([{ user_id: userId, body, keyword: null, possible_opt_out: true }]);
    },
  );

  it('after "Opt out" a send is SUPPRESSED opted_out; fullwidth "ＳＴＡＲＴ" opts back in and the next one is accepted', async () => {
    const { userId, phone } = await newUser();
    const send = async () =>
      (
        await executeOk(suite.stack.url, SendNotificationDocument, {
          input: { userId, type: 'adhoc', channels: ['SMS'], content: { body: 'hello' } },
        })
      ).sendNotification.notification.messages[0];

    await reply(phone, 'Opt out');
    expect(await send()).toMatchObject({ status: 'SUPPRESSED', error: { code: 'opted_out' } });

    const { sid } = await reply(phone, 'ＳＴＡＲＴ');
    expect(await stored(sid)).toMatchObject([{ keyword: 'START', possible_opt_out: false }]);
    expect(await check(userId)).toEqual({ canSend: true, reason: 'transactional_allowed' });
    expect((await send()).status).toBe('QUEUED');
  });

  it('"S\\u200BTART" (zero-width space inside) opts back in after "STO\\u200DP"', async () => {
    const { userId, phone } = await newUser();
    await reply(phone, 'STO\u200DP');
    expect(await check(userId)).toEqual({ canSend: false, reason: 'opted_out' });

    const { sid } = await reply(phone, 'S\u200BTART');
    expect(await stored(sid)).toMatchObject([{ keyword: 'START', possible_opt_out: false }]);
    expect(await check(userId)).toEqual({ canSend: true, reason: 'transactional_allowed' });
  });

  it('"HELP?" is answered with the help text and changes no consent', async () => {
    const { userId, phone } = await newUser();
    const { twiml } = await reply(phone, 'HELP?');
    expect(twiml).toContain(
      '<Message>Herald notifications. Reply STOP to unsubscribe, START to subscribe again.</Message>',
    );
    expect(await ledger(userId)).toEqual([]);
  });
});
