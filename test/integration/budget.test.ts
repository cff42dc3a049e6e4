import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertPayload } from '../../src/pubsub/pubsub';
import { SendNotificationDocument, SendNotificationsDocument } from '../support/generated/graphql';
import { execute, executeOk, waitFor } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const SETTINGS = `query { tenantSettings { dailyBudget monthlyBudget criticalBypassesBudget spentToday spentThisMonth } }`;
const UPDATE = `mutation ($input: TenantSettingsInput!) { updateTenantSettings(input: $input) { dailyBudget monthlyBudget criticalBypassesBudget } }`;

/** API role only: sends are accepted and counted, no worker sends them. Prices: $0.01 per SMS segment. */
describe('budgets', () => {
  let stack: TestStack;
  const alerts: AlertPayload[] = [];

  beforeAll(async () => {
    stack = await startStack({
      role: 'api',
      extraEnv: { SMS_PRICES: '{"*":0.01}', BUDGET_MONTHLY_USD: '1000' },
    });
    void (async () => {
      for await (const alert of stack.herald.services.deps.pubsub.subscribeAlerts('default'))
        alerts.push(alert);
    })();
    // Wait until the Redis subscription is live: publish probes until one comes back, then forget them.
    const probe: AlertPayload = {
      tenantId: 'default',
      kind: 'budget',
      period: 'day',
      threshold: 0,
      spent: 0,
      budget: 0,
      occurredAt: '',
    };
    await waitFor(() => {
      stack.herald.services.deps.pubsub.publishAlert(probe);
      return new Promise<boolean>((resolve) => setTimeout(() => resolve(alerts.length > 0), 50));
    });
    await new Promise((r) => setTimeout(r, 100));
    alerts.length = 0;
  });
  afterAll(() => stack?.close());

  const sms = (body = 'hi', priority?: 'CRITICAL') => ({
    userId: `u-${randomUUID()}`,
    type: 'adhoc',
    channels: ['SMS' as const],
    to: { phone: '+14155552671' },
    content: { body },
    priority,
  });

  it('tenantSettings shows defaults; updateTenantSettings overrides them', async () => {
    const defaults = await execute<{ tenantSettings: Record<string, unknown> }, unknown>(stack.url, SETTINGS);
    expect(defaults.data?.tenantSettings).toMatchObject({
      dailyBudget: null,
      monthlyBudget: 1000,
      criticalBypassesBudget: true,
    });
    const updated = await execute<{ updateTenantSettings: Record<string, unknown> }, unknown>(
      stack.url,
      UPDATE,
      { input: { dailyBudget: 0.05 } },
    );
    expect(updated.data?.updateTenantSettings).toEqual({
      dailyBudget: 0.05,
      monthlyBudget: 1000,
      criticalBypassesBudget: true,
    });
    const bad = await execute(stack.url, UPDATE, { input: { dailyBudget: -1 } });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.dailyBudget' });
  });

  it('a send that would exceed the daily budget fails with BUDGET_EXCEEDED; crossing 80% and 100% publishes alerts; CRITICAL may pass', async () => {
    // $0.05 a day: four one-segment SMS ($0.04) reach 80%, the fifth 100%, the sixth is refused.
    for (let i = 0; i < 5; i += 1) await executeOk(stack.url, SendNotificationDocument, { input: sms() });
    await waitFor(() => Promise.resolve(alerts.length >= 2), 5_000, 'two alerts');
    expect(alerts.map((a) => [a.period, a.threshold])).toEqual([
      ['day', 0.8],
      ['day', 1],
    ]);
    const refused = await execute(stack.url, SendNotificationDocument, { input: sms() });
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      code: 'BUDGET_EXCEEDED',
      period: 'day',
      budget: 0.05,
    });
    // A two-segment SMS is priced as two.
    const settings = await execute<{ tenantSettings: { spentToday: number } }, unknown>(stack.url, SETTINGS);
    expect(settings.data?.tenantSettings.spentToday).toBeCloseTo(0.05, 6);
    // CRITICAL goes out over budget by default (documented), and not once the tenant turns that off.
    expect(
      (await execute(stack.url, SendNotificationDocument, { input: sms('outage', 'CRITICAL') })).errors,
    ).toBeUndefined();
    await execute(stack.url, UPDATE, { input: { criticalBypassesBudget: false } });
    expect(
      (await execute(stack.url, SendNotificationDocument, { input: sms('outage', 'CRITICAL') })).errors?.[0]
        ?.extensions?.code,
    ).toBe('BUDGET_EXCEEDED');
  });

  it('in a batch, the inputs past the budget come back as BUDGET_EXCEEDED data', async () => {
    await execute(stack.url, UPDATE, { input: { dailyBudget: null, monthlyBudget: null } });
    const spent = (await execute<{ tenantSettings: { spentToday: number } }, unknown>(stack.url, SETTINGS))
      .data!.tenantSettings.spentToday;
    await execute(stack.url, UPDATE, { input: { dailyBudget: spent + 0.025 } });
    const { sendNotifications } = await executeOk(stack.url, SendNotificationsDocument, {
      inputs: [sms(), sms('a'.repeat(161)), sms()],
    });
    expect(sendNotifications.results.map((r) => r.error?.code ?? 'ok')).toEqual([
      'ok',
      'BUDGET_EXCEEDED',
      'ok',
    ]);
  });
});
