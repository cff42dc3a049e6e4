import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/services/audit.service';
import { createUnsubscribeToken } from '../../src/services/unsubscribe-token';
import type { GraphQLResponse } from '../support/graphql';
import { waitFor } from '../support/graphql';
import { useWebhookStack } from '../support/webhooks';

const SECRET = 'audit-test-secret-long-enough-for-hs256!';

/** A token of `tenant` for `sub` with these scopes, valid for an hour. */
const token = (tenant: string, sub: string, scope = 'admin') =>
  new SignJWT({ tenant, scope })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));

interface AuditRow {
  tenant_id: string;
  actor: string | null;
  entity: string;
  entity_id: string;
  action: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  request_id: string | null;
  occurred_at: Date;
}

/**
 * Issue 13 part A: the audit trail. Every change kind writes exactly one row (actor = token `sub`, the request's id,
 * before/after) in the change's transaction; the table refuses UPDATE, DELETE and TRUNCATE; `auditLog` and the
 * JSON-lines export read one tenant's rows, newest first.
 */
describe('audit trail', () => {
  const suite = useWebhookStack({ JWT_SECRET: SECRET, RATE_LIMIT_ENABLED: 'false' });
  let phoneSuffix = 300;
  const newPhone = () => `+1415555${String(phoneSuffix++).padStart(4, '0')}`;

  /** POSTs a GraphQL document as `sub` of `tenant`, with its own x-request-id (returned beside the response). */
  async function gql<T = Record<string, unknown>>(
    query: string,
    variables: Record<string, unknown> = {},
    options: { tenant?: string; sub?: string; scope?: string; requestId?: string } = {},
  ): Promise<GraphQLResponse<T> & { requestId: string }> {
    const requestId = options.requestId ?? `req-${randomUUID()}`;
    const response = await fetch(suite.stack.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-request-id': requestId,
        authorization: `Bearer ${await token(options.tenant ?? 'acme', options.sub ?? 'alice', options.scope)}`,
      },
      body: JSON.stringify({ query, variables }),
    });
    return { ...((await response.json()) as GraphQLResponse<T>), requestId };
  }
  const ok = async <T = Record<string, unknown>>(...args: Parameters<typeof gql>) => {
    const result = await gql<T>(...args);
    if (result.errors?.length || !result.data) throw new Error(JSON.stringify(result.errors));
    return { data: result.data, requestId: result.requestId };
  };
  /** The audit rows a request wrote. */
  const rowsOf = async (requestId: string) =>
    (
      await suite.db.query<AuditRow>('select * from audit_log where request_id = $1 order by seq', [
        requestId,
      ])
    ).rows;
  /** The one row a request wrote, checked for actor and tenant. */
  const oneRowOf = async (requestId: string, actor = 'alice', tenant = 'acme') => {
    const rows = await rowsOf(requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor, tenant_id: tenant, request_id: requestId });
    return rows[0];
  };

  const UPDATE_CONTACT = `mutation ($userId: ID!, $input: ContactInput!) { updateContact(userId: $userId, input: $input) { email } }`;
  const GRANT = `mutation ($input: GrantConsentInput!) { grantConsent(input: $input) { id status } }`;

  describe('one row per change', () => {
    it('updateContact: create, then update with the old value in before', async () => {
      const userId = `u-${randomUUID()}`;
      const first = await ok(UPDATE_CONTACT, { userId, input: { email: 'ann@example.com' } });
      const created = await oneRowOf(first.requestId);
      expect(created).toMatchObject({ entity: 'contact', entity_id: userId, action: 'create', before: null });
      expect(created.after).toMatchObject({ email: 'ann@example.com', phone: null });
      const second = await ok(UPDATE_CONTACT, { userId, input: { email: 'ann@example.org' } });
      const updated = await oneRowOf(second.requestId);
      expect(updated).toMatchObject({ action: 'update' });
      expect(updated.before).toMatchObject({ email: 'ann@example.com' });
      expect(updated.after).toMatchObject({ email: 'ann@example.org' });
    });

    it('registerDevice and unregisterDevice; the token only by its last 8 characters', async () => {
      const userId = `u-${randomUUID()}`;
      const deviceToken = `device-token-${randomUUID()}`;
      const registered = await ok(
        `mutation ($input: RegisterDeviceInput!) { registerDevice(input: $input) { id } }`,
        { input: { userId, token: deviceToken, platform: 'IOS' } },
      );
      const deviceId = (registered.data as { registerDevice: { id: string } }).registerDevice.id;
      const row = await oneRowOf(registered.requestId);
      expect(row).toMatchObject({ entity: 'device', entity_id: deviceId, action: 'register', before: null });
      expect(row.after).toEqual({
        userId,
        tokenSuffix: deviceToken.slice(-8),
        platform: 'IOS',
        active: true,
        deactivatedReason: null,
      });
      expect(JSON.stringify(row)).not.toContain(deviceToken);
      const unregistered = await ok(`mutation ($t: String!) { unregisterDevice(token: $t) }`, {
        t: deviceToken,
      });
      const off = await oneRowOf(unregistered.requestId);
      expect(off).toMatchObject({ entity: 'device', entity_id: deviceId, action: 'unregister' });
      expect(off.before).toMatchObject({ active: true });
      expect(off.after).toMatchObject({ active: false, deactivatedReason: 'unregistered' });
    });

    it('updateNotificationPreferences and resetNotificationPreferences', async () => {
      const userId = `u-${randomUUID()}`;
      const updated = await ok(
        `mutation ($userId: ID!, $input: NotificationPreferencesInput!) { updateNotificationPreferences(userId: $userId, input: $input) { frequency } }`,
        { userId, input: { frequency: 'DAILY', quietHours: { start: '22:00', end: '07:00' } } },
      );
      const row = await oneRowOf(updated.requestId);
      expect(row).toMatchObject({ entity: 'preferences', entity_id: userId, action: 'update', before: null });
      expect(row.after).toMatchObject({ frequency: 'DAILY', quietHours: { start: '22:00', end: '07:00' } });
      const reset = await ok(
        `mutation ($userId: ID!) { resetNotificationPreferences(userId: $userId) { frequency } }`,
        { userId },
      );
      const back = await oneRowOf(reset.requestId);
      expect(back).toMatchObject({ action: 'reset' });
      expect(back.before).toMatchObject({ frequency: 'DAILY' });
      expect(back.after).toMatchObject({ frequency: 'IMMEDIATE', quietHours: null });
    });

    it('upsertNotificationType: create and update, templates in before and after', async () => {
      const key = `t_${randomUUID().slice(0, 8)}`;
      const upsert = (body: string) =>
        ok(`mutation ($input: NotificationTypeInput!) { upsertNotificationType(input: $input) { key } }`, {
          input: { key, category: 'MARKETING', templates: [{ channel: 'SMS', body }] },
        });
      const created = await oneRowOf((await upsert('Hi {{ data.name }}')).requestId);
      expect(created).toMatchObject({
        entity: 'notificationType',
        entity_id: key,
        action: 'create',
        before: null,
      });
      expect(created.after).toMatchObject({
        key,
        category: 'MARKETING',
        templates: [{ body: 'Hi {{ data.name }}' }],
      });
      const updated = await oneRowOf((await upsert('Hello {{ data.name }}')).requestId);
      expect(updated).toMatchObject({ action: 'update' });
      expect(updated.before).toMatchObject({ templates: [{ channel: 'SMS', body: 'Hi {{ data.name }}' }] });
      expect(updated.after).toMatchObject({ templates: [{ channel: 'SMS', body: 'Hello {{ data.name }}' }] });
    });

    it('grantConsent (email) and revokeConsent: grant, then revoke with the grant in before', async () => {
      const userId = `u-${randomUUID()}`;
      const granted = await ok<{ grantConsent: { id: string }[] }>(GRANT, {
        input: { userId, channel: 'EMAIL', address: 'c@example.com', source: 'web_form' },
      });
      const consentId = granted.data.grantConsent[0].id;
      const row = await oneRowOf(granted.requestId);
      expect(row).toMatchObject({ entity: 'consent', entity_id: consentId, action: 'grant', before: null });
      expect(row.after).toMatchObject({ userId, channel: 'EMAIL', type: null, status: 'GRANTED' });
      const revoked = await ok(
        `mutation ($input: RevokeConsentInput!) { revokeConsent(input: $input) { status } }`,
        { input: { userId, channel: 'EMAIL', reason: 'asked' } },
      );
      const off = await oneRowOf(revoked.requestId);
      expect(off).toMatchObject({ entity: 'consent', entity_id: consentId, action: 'revoke' });
      expect(off.before).toMatchObject({ status: 'GRANTED' });
      expect(off.after).toMatchObject({ status: 'REVOKED' });
    });

    it('grantConsent (SMS, double opt-in) is a request; verifyConsent with the code is the verify', async () => {
      const userId = `u-${randomUUID()}`;
      const phone = newPhone();
      const granted = await ok(GRANT, {
        input: { userId, channel: 'SMS', address: phone, source: 'web_form' },
      });
      const row = await oneRowOf(granted.requestId);
      expect(row).toMatchObject({ entity: 'consent', action: 'request' });
      expect(row.after).toMatchObject({ status: 'PENDING_VERIFICATION', address: phone });
      const sms = await waitFor(() =>
        Promise.resolve(
          suite.stack.emulator.emulator
            .recorded('twilio')
            .find((r) => (r.body as { To?: string }).To === phone),
        ),
      );
      const code = /code is (\d{6})/.exec(String((sms.body as { Body: string }).Body))![1];
      const verified = await ok(
        `mutation ($input: VerifyConsentInput!) { verifyConsent(input: $input) { status } }`,
        { input: { userId, channel: 'SMS', code } },
      );
      const verify = await oneRowOf(verified.requestId);
      expect(verify).toMatchObject({ entity: 'consent', entity_id: row.entity_id, action: 'verify' });
      expect(verify.before).toMatchObject({ status: 'PENDING_VERIFICATION' });
      expect(verify.after).toMatchObject({ status: 'GRANTED' });
    });

    it('a wrong consent code changes no state and writes no audit row', async () => {
      const userId = `u-${randomUUID()}`;
      await ok(GRANT, { input: { userId, channel: 'SMS', address: newPhone(), source: 'web_form' } });
      const wrong = await gql(
        `mutation ($input: VerifyConsentInput!) { verifyConsent(input: $input) { status } }`,
        { input: { userId, channel: 'SMS', code: '0000000' } },
      );
      expect(wrong.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
      expect(await rowsOf(wrong.requestId)).toHaveLength(0);
    });

    it('updateTenantSettings', async () => {
      const tenant = `t-${randomUUID().slice(0, 8)}`;
      const first = await ok(
        `mutation ($input: TenantSettingsInput!) { updateTenantSettings(input: $input) { timezone } }`,
        { input: { timezone: 'Europe/Lisbon', dailyBudget: 5 } },
        { tenant },
      );
      const created = await oneRowOf(first.requestId, 'alice', tenant);
      expect(created).toMatchObject({
        entity: 'tenantSettings',
        entity_id: tenant,
        action: 'create',
        before: null,
      });
      expect(created.after).toMatchObject({
        timezone: 'Europe/Lisbon',
        dailyBudget: 5,
        useSharedProviders: true,
      });
      const second = await ok(
        `mutation ($input: TenantSettingsInput!) { updateTenantSettings(input: $input) { timezone } }`,
        { input: { useSharedProviders: false } },
        { tenant },
      );
      const updated = await oneRowOf(second.requestId, 'alice', tenant);
      expect(updated).toMatchObject({ action: 'update' });
      expect(updated.before).toMatchObject({ useSharedProviders: true, timezone: 'Europe/Lisbon' });
      expect(updated.after).toMatchObject({ useSharedProviders: false, timezone: 'Europe/Lisbon' });
    });

    it('cancelNotification: one row with the messages before and after; a repeat changes nothing', async () => {
      const sent = await ok<{ sendNotification: { notification: { id: string } } }>(
        `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { id } } }`,
        {
          input: {
            userId: `u-${randomUUID()}`,
            type: 'adhoc',
            channels: ['SMS'],
            to: { phone: newPhone() },
            content: { body: 'later' },
            scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
          },
        },
      );
      const id = sent.data.sendNotification.notification.id;
      const CANCEL = `mutation ($id: ID!) { cancelNotification(id: $id) { status } }`;
      const cancelled = await ok(CANCEL, { id });
      const row = await oneRowOf(cancelled.requestId);
      expect(row).toMatchObject({ entity: 'notification', entity_id: id, action: 'cancel' });
      expect(row.before).toMatchObject({ status: 'SCHEDULED', messages: [{ status: 'SCHEDULED' }] });
      expect(row.after).toMatchObject({ status: 'CANCELLED', messages: [{ status: 'CANCELLED' }] });
      const again = await ok(CANCEL, { id });
      expect(await rowsOf(again.requestId)).toHaveLength(0);
    });

    it('STOP through the signed Twilio webhook: actor webhook:twilio, request id = the stored event key', async () => {
      const userId = `u-${randomUUID()}`;
      const phone = newPhone();
      await ok(UPDATE_CONTACT, { userId, input: { phone } });
      const sid = `SM${randomUUID().replace(/-/g, '')}`;
      const response = await suite.sender.twilio('/webhooks/twilio/inbound', {
        MessageSid: sid,
        From: phone,
        To: '+15005550006',
        Body: 'STOP',
        NumMedia: '0',
      });
      expect(response.status).toBe(200);
      // Stored before the 200, applied at once or by the scheduler: the audit row comes with the consent change.
      const eventKey = `${sid}:inbound`;
      await waitFor(async () => (await rowsOf(eventKey)).length > 0, 20_000, 'the STOP audit row');
      const row = await oneRowOf(eventKey, 'webhook:twilio');
      expect(row).toMatchObject({ entity: 'consent', action: 'revoke' });
      expect(row.after).toMatchObject({ userId, channel: 'SMS', status: 'REVOKED' });
    });

    it('one-click unsubscribe links are audited as unsubscribe-link', async () => {
      // The link Herald puts in a marketing email's List-Unsubscribe header, signed with its secret.
      const userId = `u-${randomUUID()}`;
      const link = createUnsubscribeToken(suite.stack.config.auth.unsubscribeSecret, {
        tenantId: 'acme',
        userId,
        typeKey: 'newsletter',
        messageId: randomUUID(),
        address: 'n@example.com',
      });
      const requestId = `req-${randomUUID()}`;
      const response = await fetch(`${suite.stack.config.server.publicUrl}/unsubscribe/${link}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': requestId },
        body: 'List-Unsubscribe=One-Click',
      });
      expect(response.status).toBe(200);
      const row = await oneRowOf(requestId, 'unsubscribe-link');
      expect(row).toMatchObject({ entity: 'consent', action: 'revoke' });
      expect(row.after).toMatchObject({ userId, channel: 'EMAIL', type: 'newsletter', status: 'REVOKED' });
    });
  });

  describe('a change that changes nothing writes no audit row and touches nothing', () => {
    /** The row's xmin: a new one means PostgreSQL wrote the row again, even with equal values. */
    const xmin = async (table: string, where: string, params: unknown[]) =>
      (await suite.db.query<{ x: string }>(`select xmin::text as x from ${table} where ${where}`, params))
        .rows[0]?.x;

    it('resetNotificationPreferences of a user with no stored preferences: the defaults, no row, no audit row', async () => {
      const userId = `never-${randomUUID()}`;
      const reset = await ok(
        `mutation ($userId: ID!) { resetNotificationPreferences(userId: $userId) { frequency quietHours { start } } }`,
        { userId },
      );
      expect(reset.data).toEqual({
        resetNotificationPreferences: { frequency: 'IMMEDIATE', quietHours: null },
      });
      expect(await rowsOf(reset.requestId)).toHaveLength(0);
      const stored = await suite.db.query('select 1 from notification_preferences where user_id = $1', [
        userId,
      ]);
      expect(stored.rows).toHaveLength(0);
    });

    it('updateTenantSettings with the values it already holds', async () => {
      const tenant = `same-${randomUUID().slice(0, 8)}`;
      const input = {
        timezone: 'Europe/Lisbon',
        dailyBudget: 5,
        defaultSenders: { email: 'news@example.com', sms: '+14155552671' },
        dataRetentionDays: 30,
        useSharedProviders: false,
      };
      const SET = `mutation ($input: TenantSettingsInput!) { updateTenantSettings(input: $input) { timezone useSharedProviders } }`;
      await ok(SET, { input }, { tenant });
      const stored = await xmin('tenant_settings', 'tenant_id = $1', [tenant]);
      // The same values, other spellings of them, and an empty change.
      for (const again of [
        input,
        { ...input, timezone: 'europe/lisbon', defaultSenders: { sms: '+1 415 555 2671' } },
        {},
      ]) {
        const repeat = await ok(SET, { input: again }, { tenant });
        expect(repeat.data).toEqual({
          updateTenantSettings: { timezone: 'Europe/Lisbon', useSharedProviders: false },
        });
        expect(await rowsOf(repeat.requestId)).toHaveLength(0);
      }
      expect(await xmin('tenant_settings', 'tenant_id = $1', [tenant])).toBe(stored);
      // A real change still writes its row.
      const changed = await ok(SET, { input: { dailyBudget: 6 } }, { tenant });
      expect((await oneRowOf(changed.requestId, 'alice', tenant)).after).toMatchObject({ dailyBudget: 6 });
    });

    it('upsertNotificationType with the same type and templates', async () => {
      const key = `same_${randomUUID().slice(0, 8)}`;
      const input = {
        key,
        name: 'Same',
        category: 'MARKETING',
        defaultChannels: ['SMS', 'EMAIL'],
        templates: [
          { channel: 'SMS', body: 'Hi {{ data.name }}' },
          { channel: 'EMAIL', subject: 'Hello', text: 'Hi {{ data.name }}', html: '<p>Hi</p>' },
        ],
        frequencyCap: { limit: 3, period: 'DAY', action: 'SUPPRESS' },
      };
      const UPSERT = `mutation ($input: NotificationTypeInput!) { upsertNotificationType(input: $input) { key name updatedAt } }`;
      const first = await ok<{ upsertNotificationType: { updatedAt: string } }>(UPSERT, { input });
      const stored = await xmin('notification_type', 'tenant_id = $1 and key = $2', ['acme', key]);
      const repeat = await ok<{ upsertNotificationType: { updatedAt: string } }>(UPSERT, { input });
      expect(repeat.data.upsertNotificationType).toEqual(first.data.upsertNotificationType);
      expect(await rowsOf(repeat.requestId)).toHaveLength(0);
      expect(await xmin('notification_type', 'tenant_id = $1 and key = $2', ['acme', key])).toBe(stored);
      const changed = await ok(UPSERT, { input: { ...input, name: 'Other' } });
      expect((await oneRowOf(changed.requestId)).after).toMatchObject({ name: 'Other' });
    });

    it('updateNotificationPreferences and updateContact with the values already stored', async () => {
      const userId = `u-${randomUUID()}`;
      const PREFS = `mutation ($userId: ID!, $input: NotificationPreferencesInput!) { updateNotificationPreferences(userId: $userId, input: $input) { frequency } }`;
      const prefs = {
        frequency: 'DAILY',
        quietHours: { start: '22:00', end: '07:00' },
        channels: [{ channel: 'SMS', enabled: false }],
      };
      await ok(PREFS, { userId, input: prefs });
      const storedPrefs = await xmin('notification_preferences', 'tenant_id = $1 and user_id = $2', [
        'acme',
        userId,
      ]);
      const samePrefs = await ok(PREFS, { userId, input: prefs });
      expect(await rowsOf(samePrefs.requestId)).toHaveLength(0);
      expect(
        await xmin('notification_preferences', 'tenant_id = $1 and user_id = $2', ['acme', userId]),
      ).toBe(storedPrefs);

      await ok(UPDATE_CONTACT, { userId, input: { email: 'same@example.com', phone: '+14155552671' } });
      const storedContact = await xmin('contact_info', 'tenant_id = $1 and user_id = $2', ['acme', userId]);
      const sameContact = await ok(UPDATE_CONTACT, {
        userId,
        input: { email: 'same@example.com', phone: '+1 415 555 2671' },
      });
      expect(await rowsOf(sameContact.requestId)).toHaveLength(0);
      expect(await xmin('contact_info', 'tenant_id = $1 and user_id = $2', ['acme', userId])).toBe(
        storedContact,
      );
    });

    it('re-granting a granted consent keeps its grantedAt and writes no audit row (the ledger keeps the request)', async () => {
      const userId = `u-${randomUUID()}`;
      const input = { userId, channel: 'EMAIL', address: 'regrant@example.com', source: 'web_form' };
      const granted = await ok<{ grantConsent: { id: string }[] }>(GRANT, { input });
      const consentId = granted.data.grantConsent[0].id;
      const stored = await suite.db.query<{ granted_at: Date; x: string }>(
        'select granted_at, xmin::text as x from consent where id = $1',
        [consentId],
      );
      const again = await ok(GRANT, { input });
      expect(await rowsOf(again.requestId)).toHaveLength(0);
      const after = await suite.db.query<{ granted_at: Date; x: string }>(
        'select granted_at, xmin::text as x from consent where id = $1',
        [consentId],
      );
      expect(after.rows[0]).toEqual(stored.rows[0]);
      const ledger = await suite.db.query(
        `select 1 from consent_event where tenant_id = 'acme' and user_id = $1 and action = 'GRANT'`,
        [userId],
      );
      expect(ledger.rows).toHaveLength(2);
      // Granted again from another source: a change of the source, grantedAt still the first grant's.
      const resourced = await ok(GRANT, { input: { ...input, source: 'checkout' } });
      const row = await oneRowOf(resourced.requestId);
      expect(row.before).toMatchObject({ source: 'web_form' });
      expect(row.after).toMatchObject({ source: 'checkout', grantedAt: row.before!.grantedAt });
    });

    it('recordAudit writes nothing when before and after say the same (key order, null vs missing)', async () => {
      const em = suite.stack.herald.services.deps.orm.em.fork();
      const entityId = `same-${randomUUID()}`;
      const written = await em.transactional((tx) =>
        recordAudit(tx, {
          tenantId: 'acme',
          actor: 'alice',
          requestId: null,
          entity: 'channelConfig',
          entityId,
          action: 'update',
          before: { name: 'x', senders: { fromNumber: '+14155550100', fromEmail: null }, at: new Date(0) },
          after: { senders: { fromNumber: '+14155550100' }, at: new Date(0).toISOString(), name: 'x' },
        }),
      );
      expect(written).toBe(false);
      const { rows } = await suite.db.query('select 1 from audit_log where entity_id = $1', [entityId]);
      expect(rows).toHaveLength(0);
    });
  });

  describe('changes nobody made through the API, and batches: one row per change', () => {
    const SEND = `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { id messages { id } } } }`;
    /** Sends as tenant acme and waits until the message reaches one of `statuses`; returns its id. */
    async function sendAndWait(input: Record<string, unknown>, statuses: string[]) {
      const sent = await ok<{ sendNotification: { notification: { messages: { id: string }[] } } }>(SEND, {
        input,
      });
      const id = sent.data.sendNotification.notification.messages[0].id;
      await waitFor(async () => {
        const { rows } = await suite.db.query<{ status: string }>(
          'select status from message where id = $1',
          [id],
        );
        return statuses.includes(rows[0]?.status);
      });
      return id;
    }
    const rowsAbout = async (userId: string) =>
      (
        await suite.db.query<AuditRow>(`select * from audit_log where after->>'userId' = $1 order by seq`, [
          userId,
        ])
      ).rows;

    it('a grant of two types writes two rows, one per consent', async () => {
      const userId = `u-${randomUUID()}`;
      const keys = [`a_${randomUUID().slice(0, 6)}`, `b_${randomUUID().slice(0, 6)}`];
      for (const key of keys)
        await ok(
          `mutation ($input: NotificationTypeInput!) { upsertNotificationType(input: $input) { key } }`,
          {
            input: { key, category: 'MARKETING' },
          },
        );
      const granted = await ok<{ grantConsent: { id: string }[] }>(GRANT, {
        input: { userId, channel: 'EMAIL', types: keys, address: 'two@example.com', source: 'web_form' },
      });
      const rows = await rowsOf(granted.requestId);
      expect(rows.map((r) => [r.entity_id, r.action, (r.after as { type: string }).type]).sort()).toEqual(
        granted.data.grantConsent.map((c, i) => [c.id, 'grant', keys[i]]).sort(),
      );
    });

    it('a STOP from a number two tenants know writes one row in each tenant', async () => {
      const phone = newPhone();
      const users = { acme: `u-${randomUUID()}`, globex: `u-${randomUUID()}` };
      for (const [tenant, userId] of Object.entries(users))
        await ok(UPDATE_CONTACT, { userId, input: { phone } }, { tenant });
      const sid = `SM${randomUUID().replace(/-/g, '')}`;
      await suite.sender.twilio('/webhooks/twilio/inbound', {
        MessageSid: sid,
        From: phone,
        To: '+15005550006',
        Body: 'STOP',
        NumMedia: '0',
      });
      await waitFor(async () => (await rowsOf(`${sid}:inbound`)).length >= 2, 20_000, 'two STOP rows');
      const rows = await rowsOf(`${sid}:inbound`);
      expect(rows.map((r) => [r.tenant_id, (r.after as { userId: string }).userId, r.actor]).sort()).toEqual([
        ['acme', users.acme, 'webhook:twilio'],
        ['globex', users.globex, 'webhook:twilio'],
      ]);
    });

    it('Twilio 21610 at send revokes consent as provider:twilio', async () => {
      const userId = `u-${randomUUID()}`;
      suite.stack.emulator.emulator.injectFault({ vendor: 'twilio', count: 1, status: 400, code: 21610 });
      await sendAndWait(
        { userId, type: 'adhoc', channels: ['SMS'], to: { phone: newPhone() }, content: { body: 'x' } },
        ['FAILED'],
      );
      const rows = await rowsAbout(userId);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        actor: 'provider:twilio',
        entity: 'consent',
        action: 'revoke',
        request_id: null,
      });
    });

    it('a SendGrid unsubscribe event revokes consent as webhook:sendgrid, keyed by sg_event_id', async () => {
      const userId = `u-${randomUUID()}`;
      const messageId = await sendAndWait(
        {
          userId,
          type: 'adhoc',
          channels: ['EMAIL'],
          to: { email: 'leaver@example.com' },
          content: { subject: 's', text: 't' },
        },
        ['SENT'],
      );
      const eventId = `unsub-${messageId}`;
      const response = await suite.sender.sendgrid([
        {
          email: 'leaver@example.com',
          event: 'unsubscribe',
          timestamp: Math.floor(Date.now() / 1000),
          sg_event_id: eventId,
          herald_message_id: messageId,
        },
      ]);
      expect(response.status).toBe(200);
      await waitFor(async () => (await rowsOf(eventId)).length > 0, 20_000, 'the unsubscribe audit row');
      const row = await oneRowOf(eventId, 'webhook:sendgrid');
      expect(row).toMatchObject({ entity: 'consent', action: 'revoke' });
      expect(row.after).toMatchObject({ userId, channel: 'EMAIL', status: 'REVOKED' });
    });

    it('starter types seeded by Herald itself have actor null, one row per type', async () => {
      const tenant = `seed-${randomUUID().slice(0, 8)}`;
      const created = await suite.stack.herald.services.types.seedStarterTypes(tenant);
      const { rows } = await suite.db.query<AuditRow>('select * from audit_log where tenant_id = $1', [
        tenant,
      ]);
      expect(created).toBeGreaterThan(0);
      expect(rows).toHaveLength(created);
      expect(
        rows.every((r) => r.actor === null && r.entity === 'notificationType' && r.action === 'create'),
      ).toBe(true);
    });
  });

  it('request ids: a sane x-request-id is kept and echoed; an unsafe one is replaced by a UUID', async () => {
    const post = (requestId: string) =>
      fetch(suite.stack.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': requestId },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
    expect((await post('abc-123_X.y')).headers.get('x-request-id')).toBe('abc-123_X.y');
    for (const bad of ['x'.repeat(129), 'has space', 'semi;colon']) {
      expect((await post(bad)).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('UPDATE, DELETE and TRUNCATE on audit_log fail (the app connects as the owner: a trigger refuses them)', async () => {
    const { rows } = await suite.db.query<{ n: number }>('select count(*)::int n from audit_log');
    expect(rows[0].n).toBeGreaterThan(0);
    await expect(suite.db.query(`update audit_log set actor = 'mallory'`)).rejects.toThrow(
      /append-only: UPDATE/,
    );
    await expect(suite.db.query('delete from audit_log')).rejects.toThrow(/append-only: DELETE/);
    await expect(suite.db.query('truncate audit_log')).rejects.toThrow(/append-only: TRUNCATE/);
    const after = await suite.db.query<{ n: number; mallory: number }>(
      `select count(*)::int n, count(*) filter (where actor = 'mallory')::int mallory from audit_log`,
    );
    expect(after.rows[0]).toEqual({ n: rows[0].n, mallory: 0 });
  });

  it('the triggers hold in replica mode too: a session setting session_replication_role = replica cannot delete', async () => {
    // Ordinary triggers do not fire under session_replication_role = replica, which any superuser session may set.
    const db = suite.db;
    // A row to delete: a row trigger fires only for rows the DELETE reaches.
    await db.query(
      `insert into audit_log (id, tenant_id, entity, entity_id, action) values ($1, 'acme', 'tenantSettings', 'acme', 'update')`,
      [randomUUID()],
    );
    for (const statement of ['delete from audit_log', 'truncate audit_log']) {
      await db.query('begin');
      try {
        await db.query('set local session_replication_role = replica');
        await expect(db.query(statement)).rejects.toThrow(/append-only: (DELETE|TRUNCATE)/);
      } finally {
        await db.query('rollback');
      }
    }
    const { rows } = await suite.db.query<{ tgname: string; tgenabled: string }>(
      `select tgname, tgenabled from pg_trigger where tgrelid = 'audit_log'::regclass and not tgisinternal order by tgname`,
    );
    expect(rows).toEqual([
      { tgname: 'audit_log_no_truncate', tgenabled: 'A' },
      { tgname: 'audit_log_no_update_delete', tgenabled: 'A' },
    ]);
  });

  it('recordAudit commits and rolls back with the change it records; outside a transaction it refuses', async () => {
    const em = suite.stack.herald.services.deps.orm.em.fork();
    const entityId = `rollback-${randomUUID()}`;
    const record = {
      tenantId: 'acme',
      actor: 'alice',
      requestId: null,
      entity: 'channelConfig' as const,
      entityId,
      action: 'update' as const,
      before: { name: 'before', authToken: '***' },
      after: { name: 'after', authToken: '***' },
    };
    await expect(
      em.transactional(async (tx) => {
        await recordAudit(tx, record);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    await expect(recordAudit(em, record)).rejects.toThrow(/needs the transaction/);
    const { rows } = await suite.db.query('select 1 from audit_log where entity_id = $1', [entityId]);
    expect(rows).toHaveLength(0);
  });

  describe('auditLog', () => {
    const AUDIT_LOG = `query ($filter: AuditLogFilter, $first: Int, $after: String) {
      auditLog(filter: $filter, first: $first, after: $after) {
        edges { cursor node { id actor entity entityId action before after requestId occurredAt } }
        pageInfo { endCursor hasNextPage }
      } }`;
    interface Page {
      auditLog: {
        edges: {
          cursor: string;
          node: {
            id: string;
            actor: string | null;
            entity: string;
            entityId: string;
            action: string;
            requestId: string;
            occurredAt: string;
          };
        }[];
        pageInfo: { endCursor: string | null; hasNextPage: boolean };
      };
    }
    /** A fresh tenant with five contact changes by two actors (newest last). */
    async function seed() {
      const tenant = `log-${randomUUID().slice(0, 8)}`;
      const ids: string[] = [];
      for (const [i, sub] of ['ann', 'bob', 'ann', 'bob', 'ann'].entries()) {
        const { requestId } = await ok(
          UPDATE_CONTACT,
          { userId: `u${i}`, input: { email: `u${i}@example.com` } },
          { tenant, sub },
        );
        ids.push(requestId);
      }
      return { tenant, requestIds: ids };
    }

    it('pages newest first with cursors, and filters by entity, actor, from and to', async () => {
      const { tenant, requestIds } = await seed();
      const page1 = await ok<Page>(AUDIT_LOG, { first: 2 }, { tenant });
      expect(page1.data.auditLog.edges.map((e) => e.node.requestId)).toEqual([requestIds[4], requestIds[3]]);
      expect(page1.data.auditLog.pageInfo.hasNextPage).toBe(true);
      const page2 = await ok<Page>(
        AUDIT_LOG,
        { first: 2, after: page1.data.auditLog.pageInfo.endCursor },
        { tenant },
      );
      expect(page2.data.auditLog.edges.map((e) => e.node.requestId)).toEqual([requestIds[2], requestIds[1]]);
      const page3 = await ok<Page>(
        AUDIT_LOG,
        { first: 2, after: page2.data.auditLog.pageInfo.endCursor },
        { tenant },
      );
      expect(page3.data.auditLog.edges.map((e) => e.node.requestId)).toEqual([requestIds[0]]);
      expect(page3.data.auditLog.pageInfo.hasNextPage).toBe(false);

      const byActor = await ok<Page>(AUDIT_LOG, { filter: { actor: 'bob' } }, { tenant });
      expect(byActor.data.auditLog.edges.map((e) => e.node.requestId)).toEqual([
        requestIds[3],
        requestIds[1],
      ]);
      const byEntity = await ok<Page>(AUDIT_LOG, { filter: { entity: 'consent' } }, { tenant });
      expect(byEntity.data.auditLog.edges).toHaveLength(0);
      const contacts = await ok<Page>(AUDIT_LOG, { filter: { entity: 'contact' } }, { tenant });
      expect(contacts.data.auditLog.edges).toHaveLength(5);

      // from inclusive, to exclusive, on the rows' own times.
      const times = (
        await suite.db.query<{ occurred_at: Date; request_id: string }>(
          'select occurred_at, request_id from audit_log where tenant_id = $1 order by seq',
          [tenant],
        )
      ).rows;
      const from = times[1].occurred_at.toISOString();
      const to = times[3].occurred_at.toISOString();
      const window = await ok<Page>(AUDIT_LOG, { filter: { from, to } }, { tenant });
      const expected = times
        .filter((t) => t.occurred_at >= times[1].occurred_at && t.occurred_at < times[3].occurred_at)
        .map((t) => t.request_id)
        .reverse();
      expect(window.data.auditLog.edges.map((e) => e.node.requestId)).toEqual(expected);
      expect(expected).toContain(requestIds[1]);
      expect(expected).not.toContain(requestIds[3]);
    });

    it("a tenant sees only its own rows; another tenant's cursor reads nothing of it", async () => {
      const { tenant } = await seed();
      const other = await ok<Page>(
        AUDIT_LOG,
        { first: 100 },
        { tenant: `other-${randomUUID().slice(0, 8)}` },
      );
      expect(other.data.auditLog.edges).toHaveLength(0);
      const mine = await ok<Page>(AUDIT_LOG, { first: 1 }, { tenant });
      const stolen = await ok<Page>(
        AUDIT_LOG,
        { first: 100, after: mine.data.auditLog.pageInfo.endCursor },
        { tenant: `other-${randomUUID().slice(0, 8)}` },
      );
      expect(stolen.data.auditLog.edges).toHaveLength(0);
    });

    it('needs admin; bad filters, page sizes and cursors are BAD_USER_INPUT naming the field', async () => {
      const forbidden = await gql(
        AUDIT_LOG,
        {},
        { scope: 'communication:read preferences:manage consent:manage' },
      );
      expect(forbidden.errors?.[0]).toMatchObject({
        message: 'Query.auditLog needs scope "admin"',
        extensions: { code: 'FORBIDDEN' },
      });
      for (const [variables, field] of [
        [{ filter: { entity: 'password' } }, 'filter.entity'],
        [{ filter: { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' } }, 'filter.from'],
        [{ first: 101 }, 'first'],
        [{ after: 'bm90LWEtY3Vyc29y' }, 'after'],
      ] as const) {
        const refused = await gql(AUDIT_LOG, variables);
        expect(refused.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      }
    });
  });

  describe('GET /admin/audit.jsonl', () => {
    const exportUrl = (query = '') => `${suite.stack.config.server.publicUrl}/admin/audit.jsonl${query}`;

    it('1,200 rows: every page and the export hold each row exactly once, newest first (seq compared as a number)', async () => {
      const tenant = `many-${randomUUID().slice(0, 8)}`;
      // seq runs past 999 and 1,000 → "9" > "15" as text: the order once lost rows between pages.
      await suite.db.query(
        `insert into audit_log (id, tenant_id, actor, entity, entity_id, action, request_id)
         select gen_random_uuid(), $1, 'bulk', 'contact', 'u', 'update', 'n-' || n from generate_series(1, 1200) n`,
        [tenant],
      );
      const expected = Array.from({ length: 1200 }, (_, i) => `n-${1200 - i}`);
      const AUDIT_LOG_QUERY = `query ($first: Int, $after: String) {
        auditLog(first: $first, after: $after) { edges { node { requestId } } pageInfo { endCursor hasNextPage } } }`;
      type Page = {
        auditLog: {
          edges: { node: { requestId: string } }[];
          pageInfo: { endCursor: string | null; hasNextPage: boolean };
        };
      };
      const paged: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await ok<Page>(AUDIT_LOG_QUERY, { first: 100, after }, { tenant });
        paged.push(...page.data.auditLog.edges.map((e) => e.node.requestId));
        if (!page.data.auditLog.pageInfo.hasNextPage) break;
        after = page.data.auditLog.pageInfo.endCursor ?? undefined;
      }
      expect(paged).toEqual(expected);
      const response = await fetch(exportUrl(), {
        headers: { authorization: `Bearer ${await token(tenant, 'auditor')}` },
      });
      const exported = (await response.text())
        .trimEnd()
        .split('\n')
        .map((line) => (JSON.parse(line) as { requestId: string }).requestId);
      expect(exported).toEqual(expected);
    });

    it("streams the token tenant's rows as JSON lines, newest first, filtered; no other tenant's", async () => {
      const tenant = `exp-${randomUUID().slice(0, 8)}`;
      const requestIds: string[] = [];
      for (let i = 0; i < 3; i++)
        requestIds.push(
          (await ok(UPDATE_CONTACT, { userId: `e${i}`, input: { locale: 'en' } }, { tenant })).requestId,
        );
      requestIds.push(
        (
          await ok(
            `mutation { updateTenantSettings(input: { timezone: "UTC" }) { timezone } }`,
            {},
            { tenant },
          )
        ).requestId,
      );
      await ok(UPDATE_CONTACT, { userId: 'e-other', input: { locale: 'en' } }, { tenant: `${tenant}-b` });

      const response = await fetch(exportUrl(), {
        headers: { authorization: `Bearer ${await token(tenant, 'auditor')}` },
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
      const text = await response.text();
      expect(text.endsWith('\n')).toBe(true);
      const lines = text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.requestId)).toEqual([...requestIds].reverse());
      expect(lines[0]).toMatchObject({
        actor: 'alice',
        entity: 'tenantSettings',
        entityId: tenant,
        action: 'create',
      });
      expect(Object.keys(lines[0]).sort()).toEqual(
        ['action', 'actor', 'after', 'before', 'entity', 'entityId', 'id', 'occurredAt', 'requestId'].sort(),
      );
      expect(text).not.toContain('e-other');

      const contacts = await fetch(exportUrl('?entity=contact'), {
        headers: { authorization: `Bearer ${await token(tenant, 'auditor')}` },
      });
      expect((await contacts.text()).trimEnd().split('\n')).toHaveLength(3);
    });

    it('401 without a valid token, 403 without admin, 400 naming a bad parameter', async () => {
      expect((await fetch(exportUrl())).status).toBe(401);
      const reader = await fetch(exportUrl(), {
        headers: { authorization: `Bearer ${await token('acme', 'eve', 'communication:read')}` },
      });
      expect(reader.status).toBe(403);
      expect(await reader.json()).toEqual({ error: '/admin/audit.jsonl needs scope "admin"' });
      const admin = { authorization: `Bearer ${await token('acme', 'alice')}` };
      const badEntity = await fetch(exportUrl('?entity=secrets'), { headers: admin });
      expect(badEntity.status).toBe(400);
      expect(((await badEntity.json()) as { error: string }).error).toMatch(/^entity: /);
      const badDate = await fetch(exportUrl('?from=yesterday'), { headers: admin });
      expect(badDate.status).toBe(400);
      expect(((await badDate.json()) as { error: string }).error).toMatch(/^from: /);
      // A filter the export does not read, an empty one or an impossible date is refused, never read as "every row".
      for (const [query, says] of [
        ['?entityid=x', /^"entityid": not a parameter of this export/],
        ['?limit=5', /^"limit": not a parameter/],
        ['?actor[$eq]=nobody', /^"actor\[\$eq\]": not a parameter|^actor: give it once/],
        ['?actor=', /^actor: give a value or leave the parameter out/],
        ['?from=2026-02-30', /^from: "2026-02-30" is not an RFC 3339 date-time/],
        ['?to=2026-02-30T00:00:00Z', /^to: /],
      ] as const) {
        const response = await fetch(exportUrl(query), { headers: admin });
        expect(response.status, query).toBe(400);
        expect(((await response.json()) as { error: string }).error, query).toMatch(says);
      }
      const byDay = await fetch(exportUrl('?from=2020-01-01&to=2099-12-31T00:00:00%2B01:00'), {
        headers: admin,
      });
      expect(byDay.status).toBe(200);
    });

    it('HEAD answers the checks and headers without reading audit_log (break b13c finding 8)', async () => {
      const admin = { authorization: `Bearer ${await token('acme', 'alice')}` };
      expect((await fetch(exportUrl(), { method: 'HEAD' })).status).toBe(401);
      expect((await fetch(exportUrl('?limit=5'), { method: 'HEAD', headers: admin })).status).toBe(400);
      // Another session holds audit_log exclusively: any read of it waits, so an answer proves no row was read.
      const locker = new pg.Client({ connectionString: suite.stack.env.databaseUrl });
      await locker.connect();
      try {
        await locker.query('begin');
        await locker.query('lock table audit_log in access exclusive mode');
        // The control: a GET has to read the table and so cannot answer while the lock is held.
        await expect(
          fetch(exportUrl(), { headers: admin, signal: AbortSignal.timeout(1_000) }),
        ).rejects.toThrow();
        const head = await fetch(exportUrl('?entity=contact'), {
          method: 'HEAD',
          headers: admin,
          signal: AbortSignal.timeout(10_000),
        });
        expect(head.status).toBe(200);
        expect(head.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
        expect(head.headers.get('cache-control')).toBe('no-store');
        expect(await head.text()).toBe('');
      } finally {
        await locker.query('rollback').catch(() => undefined);
        await locker.end();
      }
    });
  });

  describe('tenant settings', () => {
    const SETTINGS = `timezone defaultSenders { email sms whatsapp } dataRetentionDays auditRetentionDays useSharedProviders`;
    const update = (input: Record<string, unknown>, tenant: string) =>
      gql<{ updateTenantSettings: Record<string, unknown> }>(
        `mutation ($input: TenantSettingsInput!) { updateTenantSettings(input: $input) { ${SETTINGS} } }`,
        { input },
        { tenant },
      );

    it('defaults, then each new setting stored normalised; senders merge per channel', async () => {
      const tenant = `set-${randomUUID().slice(0, 8)}`;
      const initial = await ok<{ tenantSettings: Record<string, unknown> }>(
        `{ tenantSettings { ${SETTINGS} } }`,
        {},
        { tenant },
      );
      expect(initial.data.tenantSettings).toEqual({
        timezone: 'UTC',
        defaultSenders: { email: null, sms: null, whatsapp: null },
        dataRetentionDays: null,
        auditRetentionDays: null,
        useSharedProviders: true,
      });
      const set = await update(
        {
          timezone: 'america/sao_paulo',
          defaultSenders: {
            email: 'News@Example.COM',
            sms: '+1 415 555 2671',
            whatsapp: 'whatsapp:+14155552672',
          },
          dataRetentionDays: 90,
          auditRetentionDays: 3650,
          useSharedProviders: false,
        },
        tenant,
      );
      expect(set.errors).toBeUndefined();
      expect(set.data?.updateTenantSettings).toEqual({
        timezone: 'America/Sao_Paulo',
        defaultSenders: { email: 'News@example.com', sms: '+14155552671', whatsapp: '+14155552672' },
        dataRetentionDays: 90,
        auditRetentionDays: 3650,
        useSharedProviders: false,
      });
      const merged = await update(
        {
          defaultSenders: { sms: 'MG0123456789abcdef0123456789abcdef', whatsapp: null },
          useSharedProviders: null,
        },
        tenant,
      );
      expect(merged.data?.updateTenantSettings).toMatchObject({
        defaultSenders: {
          email: 'News@example.com',
          sms: 'MG0123456789abcdef0123456789abcdef',
          whatsapp: null,
        },
        useSharedProviders: true,
      });
    });

    it('a bad time zone, sender or retention is BAD_USER_INPUT naming the field; nothing is stored', async () => {
      const tenant = `bad-${randomUUID().slice(0, 8)}`;
      for (const [input, field, message] of [
        [{ timezone: 'Mars/Olympus' }, 'input.timezone', /is not an IANA time zone/],
        [{ timezone: '+05:00' }, 'input.timezone', /is not an IANA time zone/],
        [{ defaultSenders: { email: 'not-an-address' } }, 'input.defaultSenders.email', /not a valid email/],
        [{ defaultSenders: { sms: '+1 555' } }, 'input.defaultSenders.sms', /not a valid E\.164/],
        [{ defaultSenders: { sms: 'MG123' } }, 'input.defaultSenders.sms', /messaging service SID/],
        [{ defaultSenders: { whatsapp: '12345' } }, 'input.defaultSenders.whatsapp', /not a valid E\.164/],
        [{ dataRetentionDays: 0 }, 'input.dataRetentionDays', /whole number of days/],
        [{ auditRetentionDays: -1 }, 'input.auditRetentionDays', /whole number of days/],
      ] as const) {
        const refused = await update({ ...input, dailyBudget: 1 }, tenant);
        expect(refused.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
        expect(refused.errors?.[0].message).toMatch(message);
        expect(refused.errors?.[0].message.startsWith(`${field}: `)).toBe(true);
      }
      const stored = await suite.db.query('select 1 from tenant_settings where tenant_id = $1', [tenant]);
      expect(stored.rows).toHaveLength(0);
      const audited = await suite.db.query('select 1 from audit_log where tenant_id = $1', [tenant]);
      expect(audited.rows).toHaveLength(0);
    });
  });
});
