import { describe, expect, it } from 'vitest';
import {
  MessageDocument,
  SendNotificationDocument,
  type SendNotificationInput,
} from '../support/generated/graphql';
import { executeOk, waitFor } from '../support/graphql';
import { useWebhookStack } from '../support/webhooks';

/**
 * Issue 12, kind 1: vendors add event types, statuses and form fields without notice. A request whose signature
 * verifies is stored and answered 2xx; what Herald does not know is recorded, ignored for status and counted.
 */
describe('webhook intake tolerates what vendors add', () => {
  const suite = useWebhookStack();
  const { sender } = suite;

  const send = async (input: SendNotificationInput) =>
    (await executeOk(suite.stack.url, SendNotificationDocument, { input })).sendNotification.notification
      .messages[0];
  const message = async (id: string) => (await executeOk(suite.stack.url, MessageDocument, { id })).message!;
  const until = (id: string, statuses: string[]) =>
    waitFor(async () => {
      const m = await message(id);
      return statuses.includes(m.status) && m;
    });
  const sentSms = async () => {
    const m = await send({
      userId: 'u-sms',
      type: 'adhoc',
      channels: ['SMS'],
      to: { phone: '+14155552671' },
      content: { body: 'hello' },
    });
    return until(m.id, ['SENT']);
  };
  const sentEmail = async () => {
    const m = await send({
      userId: 'u-mail',
      type: 'adhoc',
      channels: ['EMAIL'],
      to: { email: 'reader@example.com' },
      content: { subject: 's', text: 't' },
    });
    return until(m.id, ['SENT']);
  };
  const stored = async (provider: string, key: string) =>
    (
      await suite.db.query<{ kind: string; processed: boolean }>(
        'select kind, processed_at is not null processed from provider_event where provider = $1 and event_key = $2',
        [provider, key],
      )
    ).rows;
  /** herald_webhook_unknown_events_total for one provider and kind, as /metrics shows it (0 when absent). */
  const unknownCount = async (provider: string, kind: string) => {
    const text = await (await fetch(`${suite.stack.config.server.publicUrl}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) =>
        l.startsWith(`herald_webhook_unknown_events_total{provider="${provider}",kind="${kind}"}`),
      );
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  const sendgridEvent = (
    m: { id: string; providerMessageId?: string | null; to: string },
    event: string,
    eventId: string,
  ) => ({
    email: m.to,
    event,
    timestamp: Math.floor(Date.now() / 1000),
    sg_event_id: eventId,
    sg_message_id: `${m.providerMessageId}.filter0001`,
    herald_message_id: m.id,
  });

  describe('Twilio: repeated form fields reach the signature check', () => {
    it('a signed inbound message with MessagingBinding.Address twice is stored (was 403)', async () => {
      const sid = `SM${'a'.repeat(32)}`;
      const res = await sender.twilio('/webhooks/twilio/inbound', {
        MessageSid: sid,
        AccountSid: 'AC00000000000000000000000000000000',
        From: '+14155550100',
        To: '+14155238886',
        Body: 'hello there',
        'MessagingBinding.Address': ['+14155550100', '+14155550199'],
      });
      expect(res.status).toBe(200);
      expect(await stored('twilio', `${sid}:inbound`)).toEqual([{ kind: 'inbound', processed: true }]);
      const { rows } = await suite.db.query<{ params: Record<string, unknown> }>(
        "select payload->'params' params from provider_event where event_key = $1",
        [`${sid}:inbound`],
      );
      expect(rows[0].params['MessagingBinding.Address']).toEqual(['+14155550100', '+14155550199']);
      expect(await unknownCount('twilio', 'field')).toBeGreaterThanOrEqual(1);
    });

    it('a signed status callback with a repeated field is stored and applied', async () => {
      const m = await sentSms();
      const res = await sender.twilio(`/webhooks/twilio/status?hm=${m.id}`, {
        MessageSid: m.providerMessageId!,
        MessageStatus: 'delivered',
        'MessagingBinding.Address': ['+14155550100', '+14155550101'],
      });
      expect(res.status).toBe(204);
      expect((await message(m.id)).status).toBe('DELIVERED');
    });
  });

  describe('Twilio: statuses Herald does not map are stored, not refused', () => {
    it.each(['receiving', 'received', 'partially_delivered', 'teleported', ''])(
      'MessageStatus %j → 204, stored, status unchanged',
      async (status) => {
        const m = await sentSms();
        const res = await sender.twilio(`/webhooks/twilio/status?hm=${m.id}`, {
          MessageSid: m.providerMessageId!,
          MessageStatus: status,
        });
        expect(res.status).toBe(204);
        expect(await stored('twilio', `${m.providerMessageId}:${status}`)).toHaveLength(1);
        const after = await message(m.id);
        expect(after.status).toBe('SENT');
        // Kept in the message's history with the vendor's own name for it.
        await waitFor(async () =>
          (await message(m.id)).events.some((e) => e.source === 'twilio' && e.status === 'SENT'),
        );
      },
    );

    it('an unknown status is counted as kind "status"', async () => {
      const before = await unknownCount('twilio', 'status');
      const m = await sentSms();
      await sender.twilio(`/webhooks/twilio/status?hm=${m.id}`, {
        MessageSid: m.providerMessageId!,
        MessageStatus: 'quantum_entangled',
      });
      expect(await unknownCount('twilio', 'status')).toBe(before + 1);
    });

    it('the same signed status (unknown status and field) delivered 3 times is counted once (break12)', async () => {
      const m = await sentSms();
      const before = {
        status: await unknownCount('twilio', 'status'),
        field: await unknownCount('twilio', 'field'),
      };
      const form = {
        MessageSid: m.providerMessageId!,
        MessageStatus: 'brand_new_status',
        BrandNewField: '1',
      };
      for (let i = 0; i < 3; i++) {
        expect((await sender.twilio(`/webhooks/twilio/status?hm=${m.id}`, form)).status).toBe(204);
      }
      expect(await stored('twilio', `${m.providerMessageId}:brand_new_status`)).toHaveLength(1);
      expect(await unknownCount('twilio', 'status')).toBe(before.status + 1);
      expect(await unknownCount('twilio', 'field')).toBe(before.field + 1);
    });

    it('the same signed inbound message with an unknown field delivered 3 times is counted once', async () => {
      const before = await unknownCount('twilio', 'field');
      const form = {
        MessageSid: `SM${'c'.repeat(32)}`,
        From: '+14155550100',
        To: '+14155238886',
        Body: 'hello again',
        AnotherNewField: 'x',
      };
      for (let i = 0; i < 3; i++) {
        expect((await sender.twilio('/webhooks/twilio/inbound', form)).status).toBe(200);
      }
      expect(await unknownCount('twilio', 'field')).toBe(before + 1);
    });

    it('a MessageSid of 256 bytes (README: webhook ids are at most 256 bytes) is stored; 257 bytes is 400 naming 256', async () => {
      const sid = `SM${'d'.repeat(254)}`;
      const at = await sender.twilio('/webhooks/twilio/status', { MessageSid: sid, MessageStatus: 'sent' });
      expect(at.status).toBe(204);
      expect(await stored('twilio', `${sid}:sent`)).toHaveLength(1);
      const over = await sender.twilio('/webhooks/twilio/status', {
        MessageSid: `${sid}d`,
        MessageStatus: 'sent',
      });
      expect(over.status).toBe(400);
      expect(await over.json()).toEqual({ error: 'MessageSid is longer than 256 bytes' });
    });

    it('only what cannot be keyed is refused: no MessageSid, or one far over 256 bytes (400)', async () => {
      expect((await sender.twilio('/webhooks/twilio/status', { MessageStatus: 'sent' })).status).toBe(400);
      const long = `SM${'x'.repeat(9000)}`;
      const res = await sender.twilio('/webhooks/twilio/status', { MessageSid: long, MessageStatus: 'sent' });
      expect(res.status).toBe(400);
      expect(
        (
          await suite.db.query('select 1 from provider_event where event_key like $1', [
            `${long.slice(0, 40)}%`,
          ])
        ).rowCount,
      ).toBe(0);
    });
  });

  describe('SendGrid: one unknown event never sinks the batch', () => {
    it('[open, account_status_change compliance_suspend] → 200, the open applied, the account event stored and counted', async () => {
      const m = await sentEmail();
      const accountBefore = await unknownCount('sendgrid', 'account');
      const accountEventId = `acct-${m.id}`;
      const res = await sender.sendgrid([
        sendgridEvent(m, 'open', `open-${m.id}`),
        {
          event: 'account_status_change',
          type: 'compliance_suspend',
          sg_event_id: accountEventId,
          timestamp: Math.floor(Date.now() / 1000),
        },
      ]);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ accepted: 2 });
      expect((await message(m.id)).status).toBe('OPENED');
      expect(await stored('sendgrid', accountEventId)).toEqual([{ kind: 'event', processed: true }]);
      expect(await unknownCount('sendgrid', 'account')).toBe(accountBefore + 1);
    });

    it.each(['machine_opened', 'Delivered', 'teleported'])(
      'event type %j → 200, stored, status unchanged, counted as kind "event"',
      async (type) => {
        const m = await sentEmail();
        const before = await unknownCount('sendgrid', 'event');
        const res = await sender.sendgrid([sendgridEvent(m, type, `${type}-${m.id}`)]);
        expect(res.status).toBe(200);
        expect(await stored('sendgrid', `${type}-${m.id}`)).toHaveLength(1);
        expect((await message(m.id)).status).toBe('SENT');
        expect(await unknownCount('sendgrid', 'event')).toBe(before + 1);
      },
    );

    it('the same signed batch with an unknown event type delivered 3 times is counted once (break12)', async () => {
      const m = await sentEmail();
      const before = await unknownCount('sendgrid', 'event');
      const batch = [sendgridEvent(m, 'hologram_viewed', `holo-${m.id}`)];
      for (let i = 0; i < 3; i++) expect((await sender.sendgrid(batch)).status).toBe(200);
      expect(await stored('sendgrid', `holo-${m.id}`)).toHaveLength(1);
      expect(await unknownCount('sendgrid', 'event')).toBe(before + 1);
    });

    it('fields of unexpected types are tolerated (numeric sg_message_id, string or impossible timestamp, object reason)', async () => {
      const m = await sentEmail();
      const res = await sender.sendgrid([
        { ...sendgridEvent(m, 'delivered', `odd1-${m.id}`), sg_message_id: 12345, timestamp: '1700000000' },
        { ...sendgridEvent(m, 'dropped', `odd2-${m.id}`), timestamp: 1e300, reason: { nested: true } },
      ]);
      expect(res.status).toBe(200);
      expect(await stored('sendgrid', `odd1-${m.id}`)).toHaveLength(1);
      expect(await stored('sendgrid', `odd2-${m.id}`)).toHaveLength(1);
      expect((await message(m.id)).status).toBe('DELIVERED');
    });

    it('an event whose sg_event_id cannot be stored is skipped inside a batch (counted "unstorable"), 400 alone', async () => {
      const m = await sentEmail();
      const before = await unknownCount('sendgrid', 'unstorable');
      const oversized = { ...sendgridEvent(m, 'click', 'e'.repeat(9000)) };
      const alone = await sender.sendgrid([oversized]);
      expect(alone.status).toBe(400);
      const res = await sender.sendgrid([sendgridEvent(m, 'delivered', `ok-${m.id}`), oversized]);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ accepted: 1 });
      expect((await message(m.id)).status).toBe('DELIVERED');
      expect(await unknownCount('sendgrid', 'unstorable')).toBe(before + 1);
    });

    it.each(['sg_message_id', 'herald_message_id'])(
      'an event whose %s is too long to store is skipped inside a batch and counted "unstorable" (break12)',
      async (field) => {
        const m = await sentEmail();
        const before = await unknownCount('sendgrid', 'unstorable');
        const oversized = { ...sendgridEvent(m, 'click', `long-${field}-${m.id}`), [field]: 'x'.repeat(300) };
        const res = await sender.sendgrid([sendgridEvent(m, 'delivered', `ok-${field}-${m.id}`), oversized]);
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ accepted: 1 });
        expect(await stored('sendgrid', `ok-${field}-${m.id}`)).toHaveLength(1);
        expect(await stored('sendgrid', `long-${field}-${m.id}`)).toEqual([]);
        expect(await unknownCount('sendgrid', 'unstorable')).toBe(before + 1);
        const alone = await sender.sendgrid([oversized]);
        expect(alone.status).toBe(400);
        expect(await alone.json()).toEqual({ error: `[0].${field}: longer than 256 bytes` });
      },
    );
  });
});
