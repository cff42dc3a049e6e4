import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendNotificationDocument } from '../support/generated/graphql';
import { execute } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const UPDATE = `mutation ($input: TenantSettingsInput!) { updateTenantSettings(input: $input) { dailyBudget } }`;
const SETTINGS = `query { tenantSettings { spentToday } }`;
const PER_ROUND = 10;
const SENDS = 40;

/**
 * The daily budget under concurrent accepts: the API in this process and a second API process (`node dist/src/main.js
 * api`, so build first) take sends of one tenant at once. Prices: $0.01 per SMS segment, so each round's budget
 * leaves room for exactly PER_ROUND more.
 */
describe('budgets hold under concurrent accepts (two API processes)', () => {
  let stack: TestStack;
  let urls: string[];
  beforeAll(async () => {
    stack = await startStack({
      role: 'api',
      extraEnv: { RATE_LIMIT_ENABLED: 'false', SMS_PRICES: '{"*":0.01}' },
    });
    const other = await stack.spawnRole('api');
    urls = [stack.url, other.url];
  }, 120_000);
  afterAll(() => stack?.close());

  it('sends fired together never take the day past its budget: exactly the ones that fit are accepted', async () => {
    for (let round = 1; round <= 3; round++) {
      const budget = (round * PER_ROUND) / 100;
      await execute(stack.url, UPDATE, { input: { dailyBudget: budget } });
      const answers = await Promise.all(
        Array.from({ length: SENDS }, (_, i) =>
          execute(urls[i % urls.length], SendNotificationDocument, {
            input: {
              userId: `u-${randomUUID()}`,
              type: 'adhoc',
              channels: ['SMS'],
              to: { phone: '+14155552671' },
              content: { body: `round ${round} send ${i}` },
            },
          }),
        ),
      );
      const accepted = answers.filter((a) => !a.errors);
      const refused = answers.flatMap((a) => a.errors ?? []).map((e) => e.extensions?.code);
      expect(accepted.length, `round ${round}`).toBe(PER_ROUND);
      expect(refused).toEqual(Array(SENDS - PER_ROUND).fill('BUDGET_EXCEEDED'));
      const { data } = await execute<{ tenantSettings: { spentToday: number } }, unknown>(
        stack.url,
        SETTINGS,
      );
      expect(data?.tenantSettings.spentToday).toBeCloseTo(budget, 9);
    }
  }, 120_000);
});
