/**
 * What each vendor documents that it refuses, with the source, in one place: Herald checks these at accept
 * (services/input-limits.ts) and at dispatch, and its emulator (sandbox/vendor-refusals.ts) refuses the same
 * requests the way the vendor does, so sandbox never shows success where live would fail.
 */

/** Twilio Programmable Messaging (Messages API), which Herald uses for SMS and WhatsApp. */
export const TWILIO_LIMITS = {
  /**
   * Messages API `Body`: "The text content of the outgoing message. Can be up to 1,600 characters in length"
   * (https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource). Longer is error 21617
   * "The concatenated message body exceeds the 1600 character limit" (https://www.twilio.com/docs/api/errors/21617),
   * where characters that take more bytes (emoji) count as more than one: JavaScript's `length` (UTF-16 units)
   * counts an emoji as 2. The same parameter carries WhatsApp bodies, so 1,600 binds WhatsApp too although WhatsApp
   * itself takes 4,096 characters of text
   * (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages#text-object).
   */
  bodyChars: 1_600,
  /**
   * "You can send messages using Twilio with up to 10 media files"
   * (https://www.twilio.com/docs/messaging/api/media-resource); more is error 21623 "Number of media files exceeds
   * allowed limit … You may send up to 10 media files in a single message"
   * (https://www.twilio.com/docs/api/errors/21623).
   */
  mediaUrls: 10,
  /**
   * "Unlike MMS, a WhatsApp media message can only contain one media attachment. Any additional attachments will be
   * ignored." (Twilio support, "Sending and Receiving Media with WhatsApp Messaging on Twilio",
   * https://support.twilio.com/hc/en-us/articles/360017961894). Twilio drops the rest silently, so Herald refuses
   * them instead.
   */
  whatsappMediaUrls: 1,
} as const;

/** Twilio's error codes for the limits above. */
export const TWILIO_LIMIT_ERRORS = {
  bodyTooLong: 21617,
  tooManyMedia: 21623,
} as const;

/** Firebase Cloud Messaging HTTP v1 (`projects.messages.send`). */
export const FCM_LIMITS = {
  /**
   * "Maximum payload for both message types is 4096 bytes"
   * (https://firebase.google.com/docs/cloud-messaging/concept-options#notifications_and_data_messages, now
   * https://firebase.google.com/docs/cloud-messaging/customize-messages/set-message-type). What counts: "the total
   * size of the payload data included in a message … 4096 bytes for most messages, or 2048 bytes in the case of
   * messages to topics. This includes both the keys and the values." (INVALID_ARGUMENT, "Message too big",
   * https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode).
   */
  payloadBytes: 4_096,
  /** Same source: messages to topics (a condition is a topic expression, so it is held to the same). */
  topicPayloadBytes: 2_048,
  /**
   * `Message.data`: "The key should not be a reserved word ("from", "message_type", or any word starting with
   * "google" or "gcm")" (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages#Message); the
   * guide also reserves "notification" (https://firebase.google.com/docs/cloud-messaging/concept-options#data_messages).
   * Live FCM answers 400 INVALID_ARGUMENT "Invalid data payload key: from"
   * (reported in https://github.com/beste/firebase-php/issues/574).
   */
  reservedDataKeys: ['from', 'message_type', 'notification'],
  reservedDataKeyPrefixes: ['google', 'gcm'],
} as const;

/** Where a push goes: FCM's size limit depends on it. */
export type FcmTargetKind = 'token' | 'topic' | 'condition';

/** FCM's payload limit in bytes for a target (4,096 for device tokens, 2,048 for topics and conditions). */
export function fcmPayloadLimit(target: FcmTargetKind): number {
  return target === 'token' ? FCM_LIMITS.payloadBytes : FCM_LIMITS.topicPayloadBytes;
}

/** The keys of an FCM `data` map that FCM reserves (FCM_LIMITS.reservedDataKeys and prefixes), in their order. */
export function fcmReservedDataKeys(data: Record<string, unknown> | null | undefined): string[] {
  return Object.keys(data ?? {}).filter(
    (key) =>
      (FCM_LIMITS.reservedDataKeys as readonly string[]).includes(key) ||
      FCM_LIMITS.reservedDataKeyPrefixes.some((prefix) => key.startsWith(prefix)),
  );
}

/** The parts of an FCM v1 message whose size FCM limits: `notification` (title, body, image) and `data`. */
export interface FcmPayloadParts {
  notification?: Record<string, unknown> | null;
  data?: Record<string, unknown> | null;
}

const utf8 = (value: unknown) => Buffer.byteLength(typeof value === 'string' ? value : String(value));

/**
 * An FCM message's payload size as FCM counts it: the UTF-8 bytes of every key and every value of `data` and of
 * `notification` ("This includes both the keys and the values", FCM_LIMITS.payloadBytes). Absent values count nothing.
 */
export function fcmPayloadBytes(message: FcmPayloadParts): number {
  let bytes = 0;
  for (const part of [message.notification, message.data]) {
    for (const [key, value] of Object.entries(part ?? {})) {
      if (value === undefined || value === null) continue;
      bytes += utf8(key) + utf8(value);
    }
  }
  return bytes;
}

/** SendGrid v3 Mail Send (`POST /v3/mail/send`). */
export const SENDGRID_LIMITS = {
  /**
   * "The personalization block is limited to 1000 personalizations per API request"
   * (https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors, HTTP 400).
   */
  personalizations: 1_000,
  /** "There is a limit of 1000 total recipients (to + cc + bcc) per request." (same page, HTTP 400). */
  recipients: 1_000,
  /**
   * "The total size of your email, including attachments, must be less than 30MB"
   * (https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send): the largest request is one byte under
   * 30 MiB. SendGrid's front end answers a larger one 413 Request Entity Too Large
   * (https://github.com/sendgrid/sendgrid-nodejs/issues/370).
   */
  maxRequestBytes: 30 * 1024 * 1024 - 1,
} as const;
