import { getOperationAST, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { operationClasses } from '../../src/server/rate-limit';

const classesOf = (source: string) => {
  const document = parse(source);
  return operationClasses(document, getOperationAST(document)!).sort();
};

describe('operation classes of the API rate limits', () => {
  it('classes root fields: sending, batch, analytics, and general for the rest', () => {
    expect(classesOf('mutation { sendNotification(input: {}) { id } }')).toEqual(['sending']);
    expect(classesOf('mutation { cancelNotification(id: "x") { id } }')).toEqual(['sending']);
    expect(classesOf('mutation { sendNotifications(inputs: []) { id } }')).toEqual(['batch']);
    expect(classesOf('{ costReport { total } }')).toEqual(['analytics']);
    expect(classesOf('{ notificationTypes { key } __typename }')).toEqual(['general']);
  });

  it('counts once per class present, through aliases, inline fragments and fragment spreads', () => {
    expect(
      classesOf('mutation { a: sendNotification(input: {}) { id } b: sendNotification(input: {}) { id } }'),
    ).toEqual(['sending']);
    expect(
      classesOf(`mutation M { ...F ... on Mutation { sendNotifications(inputs: []) { id } } updateContact { id } }
        fragment F on Mutation { sendNotification(input: {}) { id } }`),
    ).toEqual(['batch', 'general', 'sending']);
  });
});
