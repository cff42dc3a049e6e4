import { Channel } from '../entities/enums';
import { FCM_LIMITS, TWILIO_LIMITS } from '../providers/vendor-limits';
import { MAX_EVENT_ID_BYTES } from '../providers/webhook.types';

/**
 * Every size limit Herald applies at accept, in one table so the per-vendor hardening (issue 12) tightens it in one
 * place. A limit exists so that nothing is accepted that a vendor can never send, nor so large that storing and
 * estimating it costs the service more than the send is worth. Lengths are in UTF-16 code units (JavaScript
 * `string.length`, what GraphQL hands us) unless the unit says bytes (UTF-8).
 */
export const INPUT_LIMITS = {
  /** Opaque ids (user ids, type keys, tokens are separate): generous for UUIDs, emails, URNs. */
  userId: { max: 200, unit: 'characters' },
  type: { max: 100, unit: 'characters' },
  idempotencyKey: { max: 255, unit: 'characters' },
  /** RFC 5322 §2.1.1: "Each line of characters MUST be no more than 998 characters" (a header is one line). */
  subject: { max: 998, unit: 'characters' },
  /**
   * SendGrid v3 mail send: "The total size of your email, including attachments, must be less than 30MB"
   * (https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send). Herald's own cap per body field is
   * far below that: an email body above 1 MB is a client bug, not a message.
   */
  emailBodyBytes: { max: 1_048_576, unit: 'bytes' },
  /** Twilio Messages API `Body`: 1,600 characters (TWILIO_LIMITS.bodyChars, with its source). */
  smsBody: { max: TWILIO_LIMITS.bodyChars, unit: 'characters' },
  /**
   * WhatsApp goes through the same Twilio `Body` parameter, so Twilio's 1,600 characters bind it, although WhatsApp
   * itself takes 4,096 characters of text (TWILIO_LIMITS.bodyChars).
   */
  whatsappBody: { max: TWILIO_LIMITS.bodyChars, unit: 'characters' },
  /**
   * FCM payload of a push to a device token: the keys and values of `data` (Herald's included) and of the
   * notification (title, body, image) in UTF-8 bytes (FCM_LIMITS.payloadBytes, with its source).
   */
  pushPayloadBytes: { max: FCM_LIMITS.payloadBytes, unit: 'bytes' },
  /** The same for a push to a topic or condition (FCM_LIMITS.topicPayloadBytes). */
  pushTopicPayloadBytes: { max: FCM_LIMITS.topicPayloadBytes, unit: 'bytes' },
  /** Any content field whatever the channel (body and title before the per-channel rules). */
  contentFieldBytes: { max: 1_048_576, unit: 'bytes' },
  /** Twilio: up to 10 media per message (TWILIO_LIMITS.mediaUrls, with its source). */
  mediaUrls: { max: TWILIO_LIMITS.mediaUrls, unit: 'items' },
  /** Twilio WhatsApp: one media per message, the rest silently dropped (TWILIO_LIMITS.whatsappMediaUrls). */
  whatsappMediaUrls: { max: TWILIO_LIMITS.whatsappMediaUrls, unit: 'items' },
  /** URLs (media, image): the de-facto 2,048 characters browsers and CDNs accept (RFC 9110 §4.1 asks ≥ 8,000 of
   * recipients; senders should stay far below). */
  url: { max: 2_048, unit: 'characters' },
  /** Template variables (`data`): nesting and size of the serialized JSON. */
  dataDepth: { max: 32, unit: 'levels' },
  dataBytes: { max: 65_536, unit: 'bytes' },
  /**
   * Every string that is part of a btree index entry. PostgreSQL refuses an entry above about a third of a page
   * ("index row size … exceeds btree version 4 maximum 2704";
   * https://www.postgresql.org/docs/15/btree-implementation.html), and a composite index holds several such strings,
   * so each stays far below it. The caps below are in UTF-8 bytes because the index limit is.
   */
  indexedKeyBytes: { max: 1_024, unit: 'bytes' },
  /**
   * A device token (part of the unique (tenant_id, token) index). FCM registration tokens are about 163 characters and
   * APNs tokens 64 hex digits; 1,024 bytes leaves room for web-push tokens while fitting the index.
   */
  deviceTokenBytes: { max: 1_024, unit: 'bytes' },
  /**
   * Ids a vendor webhook carries (message ids, addresses): MAX_EVENT_ID_BYTES, with its sources (Twilio SIDs are 34
   * characters; SendGrid's ids short base64 strings). A longer one is not a vendor's, and cannot be indexed.
   */
  webhookIdBytes: { max: MAX_EVENT_ID_BYTES, unit: 'bytes' },
  /**
   * `to.deviceTokens` of one send. FCM multicast takes "up to 500 registration tokens" per call
   * (https://firebase.google.com/docs/cloud-messaging/send-message#send-messages-to-multiple-devices); Herald makes one
   * message row per token, so one send stays at 100 (a user's devices, not a mailing list: use `to.topic` for that).
   */
  deviceTokensPerSend: { max: 100, unit: 'items' },
  /**
   * Active devices of one user (registerDevice): a send without `to` fans out to every one of them. Registering one
   * more deactivates the least recently registered (reason `device_limit`): a user who reinstalls keeps working.
   */
  activeDevicesPerUser: { max: 100, unit: 'items' },
  /** Messages one `sendNotifications` call may create, across all its inputs (inputs themselves are ≤ 1,000). */
  messagesPerBatch: { max: 10_000, unit: 'items' },
  /**
   * Every DateTime argument: from the Unix epoch to the end of year 9999. PostgreSQL has no year 0 ("date/time field
   * value out of range") and ISO 8601 / GraphQL DateTime is meaningful for four-digit years only.
   */
  dateTime: { min: '1970-01-01T00:00:00.000Z', max: '9999-12-31T23:59:59.999Z', unit: 'ISO 8601' },
  /** How much of a caller's value an error message quotes (then "…"): an error must not echo a megabyte back. */
  quotedValue: { max: 100, unit: 'characters' },
  /** Any other string argument of a mutation (names, proofs, descriptions): a ceiling, not a rule. */
  anyString: { max: 65_536, unit: 'characters' },
} as const;

/** The body cap of each channel that has one (content.body / content.text of SMS and WhatsApp). */
export const BODY_LIMIT: Partial<Record<Channel, { max: number; rule: string }>> = {
  [Channel.SMS]: { max: INPUT_LIMITS.smsBody.max, rule: "Twilio's maximum message body" },
  [Channel.WHATSAPP]: { max: INPUT_LIMITS.whatsappBody.max, rule: "Twilio's maximum message body" },
};

/** The media cap of each channel that takes media (content.mediaUrls). */
export const MEDIA_LIMIT: Partial<Record<Channel, { max: number; rule: string }>> = {
  [Channel.SMS]: { max: INPUT_LIMITS.mediaUrls.max, rule: "Twilio's maximum media per message" },
  [Channel.WHATSAPP]: {
    max: INPUT_LIMITS.whatsappMediaUrls.max,
    rule: 'WhatsApp takes one media per message; Twilio drops the rest',
  },
};
