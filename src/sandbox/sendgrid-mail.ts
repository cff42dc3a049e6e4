import { SENDGRID_LIMITS } from '../providers/vendor-limits';
import type { Refusal } from './vendor-refusals';

/**
 * The emulator's copy of SendGrid v3 `POST /mail/send` request validation: what SendGrid answers 400 with its error
 * body `{ errors: [{ message, field, help }] }`, one entry per problem found
 * (https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors, "Each error returns an HTTP 400 status").
 * The messages are SendGrid's own as its API returns them. Any JSON value is taken: a malformed request (an object
 * where SendGrid wants an array) is a 400 naming the field, never an exception.
 */

interface SendgridErrorEntry {
  message: string;
  field: string | null;
  help: null;
}

/** SendGrid's error body (https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors). */
export const sendgridError = (status: number, message: string, field: string | null): Refusal => ({
  status,
  body: { errors: [{ message, field, help: null }] },
});

/** What SendGrid answers a body that is not JSON: 400 "Bad Request" with no field. */
export const sendgridBadRequest = (): Refusal => sendgridError(400, 'Bad Request', null);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** JSON Schema's name for a value's type, as SendGrid's "Invalid type. Expected: array, given: object." names it. */
function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

const isObject = (value: unknown): value is Record<string, Json> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/**
 * An address SendGrid would take. SendGrid does not publish its rule; this refuses only what is plainly no address
 * (no "@", white space, an empty part or label, a domain without a dot), so the emulator never refuses a request SendGrid would send.
 */
const ADDRESS = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

const FROM_REQUIRED =
  'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.';
const PERSONALIZATIONS_REQUIRED =
  'The personalizations field is required and must have at least one personalization.';
const TO_REQUIRED =
  'The to array is required for all personalization objects, and must have at least one email object with a valid email address.';
const SUBJECT_REQUIRED =
  'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.';
const CONTENT_REQUIRED =
  'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.';
const recipientRequired = (kind: string) =>
  `Each ${kind} object must at least have an email address and may also contain a name. e.g. {"email": "example@example.com"} or {"email": "example@example.com", "name": "Example Recipient"}`;

/**
 * Validates a mail send request body as SendGrid does.
 * @param mail the parsed JSON body (any JSON value)
 * @returns a 400 refusal listing every problem (SendGrid's messages and field paths, e.g.
 *   `personalizations.0.to.0.email` "Does not contain a valid address."), or undefined when SendGrid would send it
 */
export function sendgridMailRefusal(mail: unknown): Refusal | undefined {
  if (!isObject(mail)) return sendgridBadRequest();
  const errors: SendgridErrorEntry[] = [];
  const fail = (message: string, field: string | null) => errors.push({ message, field, help: null });
  const invalidType = (expected: string, value: unknown, field: string) =>
    fail(`Invalid type. Expected: ${expected}, given: ${jsonType(value)}.`, field);

  const { personalizations } = mail;
  if (personalizations !== undefined && !Array.isArray(personalizations)) {
    invalidType('array', personalizations, 'personalizations');
  } else if (!personalizations?.length) {
    fail(PERSONALIZATIONS_REQUIRED, 'personalizations');
  } else if (personalizations.length > SENDGRID_LIMITS.personalizations) {
    fail(
      `The personalization block is limited to 1000 personalizations per API request. You have provided ${personalizations.length} personalizations. Please consider splitting this into multiple requests and resending your request.`,
      'personalizations',
    );
  } else {
    let recipients = 0;
    personalizations.forEach((personalization, p) => {
      const at = `personalizations.${p}`;
      if (!isObject(personalization)) return invalidType('object', personalization, at);
      const seen = new Set<string>();
      let duplicate: { address: string; field: string } | undefined;
      for (const kind of ['to', 'cc', 'bcc'] as const) {
        const list = personalization[kind];
        if (list === undefined && kind !== 'to') continue;
        if (list !== undefined && !Array.isArray(list)) {
          invalidType('array', list, `${at}.${kind}`);
          continue;
        }
        if (!list?.length) {
          if (kind === 'to') fail(TO_REQUIRED, `${at}.to`);
          continue;
        }
        recipients += list.length;
        list.forEach((recipient, r) => {
          const field = `${at}.${kind}.${r}.email`;
          if (!isObject(recipient) || !nonEmpty(recipient.email)) return fail(recipientRequired(kind), field);
          if (!ADDRESS.test(recipient.email)) return fail('Does not contain a valid address.', field);
          const address = recipient.email.toLowerCase();
          if (seen.has(address) && !duplicate) duplicate = { address, field: `${at}.${kind}` };
          seen.add(address);
        });
      }
      // SendGrid's support article "Validation Error(s) when Sending Emails Using the Mail Send API" (2025).
      if (duplicate)
        fail(
          `Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [${duplicate.address}] in the ${duplicate.field} field.`,
          at,
        );
    });
    if (recipients > SENDGRID_LIMITS.recipients) {
      fail('There is a limit of 1000 total recipients (to + cc + bcc) per request.', 'personalizations');
    }
  }

  if (!isObject(mail.from) || !nonEmpty(mail.from.email)) fail(FROM_REQUIRED, 'from.email');
  else if (!ADDRESS.test(mail.from.email))
    fail('The from email does not contain a valid address.', 'from.email');

  const templated = nonEmpty(mail.template_id);
  const everyPersonalizationHasSubject =
    Array.isArray(personalizations) &&
    personalizations.length > 0 &&
    personalizations.every((p) => isObject(p) && nonEmpty(p.subject));
  if (mail.subject !== undefined && mail.subject !== null && typeof mail.subject !== 'string') {
    invalidType('string', mail.subject, 'subject');
  } else if (!templated && !nonEmpty(mail.subject) && !everyPersonalizationHasSubject) {
    fail(SUBJECT_REQUIRED, 'subject');
  }

  const { content } = mail;
  if (content !== undefined && content !== null && !Array.isArray(content)) {
    invalidType('array', content, 'content');
  } else if (!content?.length) {
    if (!templated) fail(CONTENT_REQUIRED, 'content');
  } else {
    content.forEach((block, c) => {
      if (!isObject(block)) return invalidType('object', block, `content.${c}`);
      if (!nonEmpty(block.type))
        fail('The content type must be a string at least one character in length.', `content.${c}.type`);
      if (!nonEmpty(block.value))
        fail('The content value must be a string at least one character in length.', `content.${c}.value`);
    });
  }
  return errors.length ? { status: 400, body: { errors } } : undefined;
}
