import { Channel } from '../entities/enums';

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
  /**
   * Twilio Messages API: "Body … can be up to 1,600 characters in length"
   * (https://www.twilio.com/docs/api/messaging/message-resource).
   */
  smsBody: { max: 1_600, unit: 'characters' },
  /**
   * WhatsApp Cloud API text object: "body … Maximum length: 4096 characters"
   * (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages#text-object).
   */
  whatsappBody: { max: 4_096, unit: 'characters' },
  /**
   * FCM: "the maximum payload for both message types is 4096 bytes"
   * (https://firebase.google.com/docs/cloud-messaging/concept-options#notifications_and_data_messages); title and
   * body together can never exceed it.
   */
  pushPayloadBytes: { max: 4_096, unit: 'bytes' },
  /** Any content field whatever the channel (body and title before the per-channel rules). */
  contentFieldBytes: { max: 1_048_576, unit: 'bytes' },
  /** Twilio Messages API: "You can include up to 10 MediaUrl parameters per message" (same page as smsBody). */
  mediaUrls: { max: 10, unit: 'items' },
  /** URLs (media, image): the de-facto 2,048 characters browsers and CDNs accept (RFC 9110 §4.1 asks ≥ 8,000 of
   * recipients; senders should stay far below). */
  url: { max: 2_048, unit: 'characters' },
  /** Template variables (`data`): nesting and size of the serialized JSON. */
  dataDepth: { max: 32, unit: 'levels' },
  dataBytes: { max: 65_536, unit: 'bytes' },
  /** Any other string argument of a mutation (names, proofs, descriptions): a ceiling, not a rule. */
  anyString: { max: 65_536, unit: 'characters' },
} as const;

/** The body cap of each channel that has one (content.body / content.text of SMS and WhatsApp). */
export const BODY_LIMIT: Partial<Record<Channel, { max: number; rule: string }>> = {
  [Channel.SMS]: { max: INPUT_LIMITS.smsBody.max, rule: "Twilio's maximum message body" },
  [Channel.WHATSAPP]: { max: INPUT_LIMITS.whatsappBody.max, rule: "WhatsApp's maximum text body" },
};
