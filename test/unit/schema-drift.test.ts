import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { printHeraldSchema } from '../../src/server/schema';

describe('schema.graphql', () => {
  it('matches the live subgraph schema (run `npm run schema:emit` after changing resolvers)', async () => {
    const committed = readFileSync(resolve(__dirname, '../../schema.graphql'), 'utf8');
    expect(await printHeraldSchema()).toBe(committed);
  });

  it('declares the federation entities and the contract operations', async () => {
    const sdl = await printHeraldSchema();
    for (const entity of ['User', 'Notification', 'Message']) {
      expect(sdl).toMatch(new RegExp(`type ${entity}\\s+@key\\(fields: "id"\\)`));
    }
    for (const operation of [
      'sendNotification(input: SendNotificationInput!): SendNotificationPayload!',
      'updateContact(',
      'registerDevice(input: RegisterDeviceInput!): Device!',
      'unregisterDevice(token: String!): Boolean!',
      'upsertNotificationType(input: NotificationTypeInput!): NotificationType!',
      'notification(id: ID!): Notification',
      'message(id: ID!): Message',
      'notificationTypes: [NotificationType!]!',
      'providers: [ProviderInfo!]!',
      'messageStatusChanged(',
    ]) {
      expect(sdl).toContain(operation);
    }
  });
});
