import { getOperationAST, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { operationCharges } from '../../src/server/rate-limit';

const chargesOf = (source: string) => {
  const document = parse(source);
  return Object.fromEntries(operationCharges(document, getOperationAST(document)!));
};

describe('what an operation is charged in the API rate limits', () => {
  it('classes root fields: sending, batch, analytics, and general for the rest', () => {
    expect(chargesOf('mutation { sendNotification(input: {}) { id } }')).toEqual({ sending: 1 });
    expect(chargesOf('mutation { cancelNotification(id: "x") { id } }')).toEqual({ sending: 1 });
    expect(chargesOf('mutation { sendNotifications(inputs: []) { id } }')).toEqual({ batch: 1 });
    expect(chargesOf('{ costReport { total } }')).toEqual({ analytics: 1 });
    expect(chargesOf('{ notificationTypes { key } __typename }')).toEqual({ general: 1 });
    expect(chargesOf('{ __typename }')).toEqual({ general: 1 });
  });

  it('charges every aliased root field: fifteen aliased sends are fifteen sending requests', () => {
    const aliases = Array.from({ length: 15 }, (_, i) => `a${i}: sendNotification(input: {}) { id }`);
    expect(chargesOf(`mutation { ${aliases.join(' ')} }`)).toEqual({ sending: 15 });
    expect(
      chargesOf(
        'mutation { a: sendNotifications(inputs: []) { id } b: sendNotifications(inputs: []) { id } }',
      ),
    ).toEqual({ batch: 2 });
  });

  it('counts through inline fragments and fragment spreads; fields GraphQL merges count once', () => {
    expect(
      chargesOf(`mutation M { ...F ...F ... on Mutation { sendNotifications(inputs: []) { id } } updateContact { id } }
        fragment F on Mutation { sendNotification(input: {}) { id } }`),
    ).toEqual({ batch: 1, general: 1, sending: 1 });
    expect(
      chargesOf(
        '{ notification(id: "1") { id } notification(id: "1") { id } x: notification(id: "2") { id } }',
      ),
    ).toEqual({ general: 2 });
  });
});
