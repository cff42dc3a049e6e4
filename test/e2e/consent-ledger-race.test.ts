import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpdateContactDocument } from '../support/generated/graphql';
import { execute, executeOk } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const ROUNDS = 40;

type Ledger = {
  _entities: {
    consents: { channel: string; type: string | null; status: string }[];
    consentHistory: { action: string; status: string | null; recordedAt: string }[];
  }[];
};

/**
 * Finding 4 of the final break-it round: a grant and a revoke of the same consent fired together. The one that takes
 * the consent row's lock second leaves the current status; the ledger listed them by occurredAt, read before the lock,
 * so 11 of 60 times User.consents said REVOKED while consentHistory ended with the GRANT. The ledger is now listed in
 * the order the entries were applied (their `seq`, taken at the insert after the lock).
 */
describe('consent ledger order under a racing grant and revoke', () => {
  let stack: TestStack;
  let other: Awaited<ReturnType<TestStack['spawnRole']>>;

  beforeAll(async () => {
    stack = await startStack({ role: 'api', extraEnv: { RATE_LIMIT_ENABLED: 'false' } });
    // Two API processes, as in production: the race is decided in PostgreSQL, not in one event loop.
    other = await stack.spawnRole('api');
  }, 60_000);
  afterAll(() => stack?.close());

  it(`${ROUNDS} rounds of grantConsent and revokeConsent at once: the last ledger entry always matches User.consents`, async () => {
    const mismatches: string[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const userId = `race-${round}-${randomUUID()}`;
      await executeOk(stack.url, UpdateContactDocument, {
        userId,
        input: { email: `${userId}@example.com` },
      });
      const grant = `mutation { grantConsent(input: { userId: "${userId}", channel: EMAIL, source: "api" }) { status } }`;
      const revoke = `mutation { revokeConsent(input: { userId: "${userId}", channel: EMAIL }) { status } }`;
      // Each to its own process, and which goes first alternates.
      const [first, second] = round % 2 === 0 ? [grant, revoke] : [revoke, grant];
      const answers = await Promise.all([execute(stack.url, first), execute(other.url, second)]);
      for (const answer of answers) expect(answer.errors).toBeUndefined();

      const read = await execute<Ledger, unknown>(
        stack.url,
        `{ _entities(representations: [{ __typename: "User", id: "${userId}" }]) {
             ... on User { consents { channel type status } consentHistory { action status recordedAt } } } }`,
      );
      expect(read.errors).toBeUndefined();
      const user = read.data!._entities[0];
      const current = user.consents.find((c) => c.channel === 'EMAIL' && c.type === null)?.status;
      const history = user.consentHistory;
      expect(history.map((e) => e.action).sort()).toEqual(['GRANT', 'REVOKE']);
      if (history.at(-1)?.status !== current) {
        mismatches.push(`round ${round}: current ${current}, ledger ends with ${history.at(-1)?.action}`);
      }
      // recordedAt never goes backwards along the ledger.
      const times = history.map((e) => Date.parse(e.recordedAt));
      if (times[1] < times[0]) mismatches.push(`round ${round}: recordedAt goes backwards`);
    }
    expect(mismatches).toEqual([]);
  }, 180_000);
});
