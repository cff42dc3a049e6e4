import { describe, expect, it } from 'vitest';
import {
  FCM_LIMITS,
  fcmPayloadBytes,
  fcmPayloadLimit,
  fcmReservedDataKeys,
  SENDGRID_LIMITS,
  TWILIO_LIMITS,
} from '../../src/providers/vendor-limits';
import { pushData, pushTargetKind } from '../../src/services/push-payload';

/** The vendors' rules with the sources' own examples (src/providers/vendor-limits.ts cites each). */
describe('vendor limits', () => {
  it('the documented numbers', () => {
    expect(TWILIO_LIMITS).toEqual({ bodyChars: 1_600, mediaUrls: 10, whatsappMediaUrls: 1 });
    expect([FCM_LIMITS.payloadBytes, FCM_LIMITS.topicPayloadBytes]).toEqual([4_096, 2_048]);
    expect(SENDGRID_LIMITS).toEqual({
      personalizations: 1_000,
      recipients: 1_000,
      maxRequestBytes: 31_457_279,
    });
    expect([fcmPayloadLimit('token'), fcmPayloadLimit('topic'), fcmPayloadLimit('condition')]).toEqual([
      4_096, 2_048, 2_048,
    ]);
  });

  it.each([
    // HTTP v1 reference: "from", "message_type", any word starting with "google" or "gcm"; the guide: "notification".
    [
      { from: 'a', 'google.c.a.e': '1', message_type: 'm', orderId: '42' },
      ['from', 'google.c.a.e', 'message_type'],
    ],
    [
      { notification: 'n', gcm: 'g', 'gcm.n.e': '1', google: 'x', googleAnalytics: 'y' },
      ['notification', 'gcm', 'gcm.n.e', 'google', 'googleAnalytics'],
    ],
    // ErrorCode page: "some words (such as collapse_key) are also used by FCM but are allowed in the payload".
    [
      {
        collapse_key: 'c',
        fromage: 'brie',
        From: 'x',
        Google: 'y',
        name: 'wrench',
        mass: '1.3kg',
        count: '3',
      },
      [],
    ],
  ])('reserved data keys of %j: %j', (data, reserved) => {
    expect(fcmReservedDataKeys(data)).toEqual(reserved);
  });

  it('payload bytes are the UTF-8 bytes of every key and value of data and notification', () => {
    // The v1 reference's own data example: { "name": "wrench", "mass": "1.3kg", "count": "3" }.
    expect(fcmPayloadBytes({ data: { name: 'wrench', mass: '1.3kg', count: '3' } })).toBe(
      4 + 6 + 4 + 5 + 5 + 1,
    );
    expect(fcmPayloadBytes({ notification: { title: 'é', body: null, image: undefined } })).toBe(5 + 2);
    expect(fcmPayloadBytes({ notification: { title: 'T' }, data: { k: 'v' } })).toBe(6 + 2);
  });

  it('Herald’s FCM data: values as strings (others as JSON), then its ids, which win', () => {
    const ids = { notificationId: 'n-1', messageId: 'm-1', type: 'order' };
    expect(pushData({ orderId: 42, item: { sku: 'a' }, note: 'hi', heraldType: 'mine' }, ids)).toEqual({
      orderId: '42',
      item: '{"sku":"a"}',
      note: 'hi',
      heraldNotificationId: 'n-1',
      heraldMessageId: 'm-1',
      heraldType: 'order',
    });
    expect(['tok', 'topic:news', "condition:'a' in topics"].map(pushTargetKind)).toEqual([
      'token',
      'topic',
      'condition',
    ]);
  });
});
