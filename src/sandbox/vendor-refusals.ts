import {
  fcmPayloadBytes,
  fcmPayloadLimit,
  fcmReservedDataKeys,
  SENDGRID_LIMITS,
  TWILIO_LIMIT_ERRORS,
  TWILIO_LIMITS,
  type FcmTargetKind,
} from '../providers/vendor-limits';
import { checkFcmCondition, FCM_TOPIC_NAME } from '../providers/fcm-target';
import { sendgridBadRequest } from './sendgrid-mail';

/**
 * The emulator's copy of each vendor's documented refusals (limits and sources in ../vendor-limits.ts), answered in
 * the vendor's own error shape, so a request that live would refuse never succeeds in sandbox.
 */

/** A vendor refusal: HTTP status and JSON body (or text with `contentType`). */
export interface Refusal {
  status: number;
  body: unknown;
  contentType?: string;
}

/** Twilio's error body (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions). */
export function twilioError(status: number, code: number, message: string): Refusal {
  return { status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status } };
}

/**
 * Messages API limits on a create-message form: Body over 1,600 characters (21617), more than 10 MediaUrl (21623).
 * @returns the refusal, or undefined when Twilio would take the request
 */
export function twilioLimitRefusal(form: Record<string, string | string[] | undefined>): Refusal | undefined {
  const body = String(form.Body ?? '');
  if (body.length > TWILIO_LIMITS.bodyChars)
    return twilioError(
      400,
      TWILIO_LIMIT_ERRORS.bodyTooLong,
      'The concatenated message body exceeds the 1600 character limit.',
    );
  if (mediaCount(form) > TWILIO_LIMITS.mediaUrls)
    return twilioError(
      400,
      TWILIO_LIMIT_ERRORS.tooManyMedia,
      'Number of media files exceeds allowed limit. You may send up to 10 media files in a single message.',
    );
  return undefined;
}

/** How many MediaUrl fields a form carries (a repeated field parses to an array). */
export function mediaCount(form: Record<string, string | string[] | undefined>): number {
  const media = form.MediaUrl;
  return Array.isArray(media) ? media.length : media ? 1 : 0;
}

/** How many media Twilio keeps: WhatsApp takes one and ignores the rest (TWILIO_LIMITS.whatsappMediaUrls). */
export function mediaKept(form: Record<string, string | string[] | undefined>): number {
  const count = mediaCount(form);
  return String(form.To ?? '').startsWith('whatsapp:')
    ? Math.min(count, TWILIO_LIMITS.whatsappMediaUrls)
    : count;
}

/** What a body parser reports when it refuses a request: express's body-parser errors carry a `type`. */
export interface ParserRefusal {
  /** `entity.too.large` (over the parser's limit), `entity.parse.failed` (not JSON), … */
  type?: string;
}

/**
 * Twilio's answer to a create-message form the emulator's parser refused. A form over the parser's 1 MB can only be
 * that large through `Body` (every other field is short), which Twilio refuses with 21617 (TWILIO_LIMITS.bodyChars);
 * anything else unreadable is Twilio's generic 400 Bad Request (https://www.twilio.com/docs/api/errors/400).
 */
export function twilioUnparseable(error: ParserRefusal): Refusal {
  return error.type === 'entity.too.large'
    ? twilioError(
        400,
        TWILIO_LIMIT_ERRORS.bodyTooLong,
        'The concatenated message body exceeds the 1600 character limit.',
      )
    : twilioError(400, 400, 'Bad Request');
}

/**
 * FCM's answer to a `messages:send` body the emulator's parser refused: over the parser's 1 MB is far over FCM's
 * 4,096-byte payload, "Message is too big" (INVALID_ARGUMENT, https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode);
 * a body that is not JSON is Google's "Invalid JSON payload received." (INVALID_ARGUMENT).
 */
export function fcmUnparseable(error: ParserRefusal): Refusal {
  if (error.type === 'entity.too.large')
    return fcmBadRequest('message', 'Message is too big: the request is over 1 MB');
  return {
    status: 400,
    body: { error: { code: 400, message: 'Invalid JSON payload received.', status: 'INVALID_ARGUMENT' } },
  };
}

/**
 * FCM's error body for a refused field: status INVALID_ARGUMENT with a google.rpc.BadRequest naming it, as in
 * https://firebase.google.com/docs/cloud-messaging/error-codes (example 1).
 */
function fcmBadRequest(field: string, message: string, summary = message): Refusal {
  return {
    status: 400,
    body: {
      error: {
        code: 400,
        message: summary,
        status: 'INVALID_ARGUMENT',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.BadRequest',
            fieldViolations: [{ field, description: message }],
          },
        ],
      },
    },
  };
}

interface FcmMessageBody {
  token?: string;
  topic?: string;
  condition?: string;
  notification?: Record<string, unknown>;
  data?: Record<string, unknown>;
}

/**
 * FCM v1 `messages:send` validation of `message.data` and size: a value that is not a string
 * ("Invalid value at 'message.data[0].value' (TYPE_STRING), 12"), a reserved key ("Invalid data payload key: from"),
 * a payload over 4,096 bytes (2,048 to a topic or condition): "Message is too big".
 * @returns the refusal, or undefined when FCM would take the message
 */
export function fcmLimitRefusal(message: FcmMessageBody): Refusal | undefined {
  const data = message.data ?? {};
  const entries = Object.entries(data);
  const index = entries.findIndex(([, value]) => typeof value !== 'string');
  if (index >= 0) {
    const field = `message.data[${index}].value`;
    return fcmBadRequest(
      field,
      `Invalid value at '${field}' (TYPE_STRING), ${JSON.stringify(entries[index][1])}`,
    );
  }
  const [reserved] = fcmReservedDataKeys(data);
  if (reserved !== undefined) return fcmBadRequest('message.data', `Invalid data payload key: ${reserved}`);
  const target: FcmTargetKind = message.token ? 'token' : message.topic ? 'topic' : 'condition';
  const bytes = fcmPayloadBytes(message);
  const limit = fcmPayloadLimit(target);
  if (bytes > limit) {
    return fcmBadRequest(
      'message',
      `Message is too big: ${bytes} bytes of data and notification keys and values, over ${limit} for a ${target}`,
    );
  }
  return undefined;
}

/** FCM's top-level message for a refused field (the field's own description is in the BadRequest detail). */
const INVALID_ARGUMENT = 'Request contains an invalid argument.';

/**
 * FCM v1 `messages:send` validation of the target (providers/fcm-target.ts has the rules and sources):
 * - exactly one of token, topic, condition (`Message.target` is a oneof);
 * - a topic matching [a-zA-Z0-9-_.~%]+ ("/topics/" prefix should not be provided", `Message.topic`);
 * - a condition by FCM's grammar with at most 5 topics. Live FCM answers "Request contains an invalid argument." with a
 *   BadRequest on `message.condition`: "Invalid condition expression provided." (as reported in
 *   https://github.com/firebase/quickstart-python/issues/11). FCM's wording for a bad topic is not published; the
 *   status and field are FCM's, the description is the emulator's.
 * @returns the refusal, or undefined when FCM would take the target
 */
export function fcmTargetRefusal(message: FcmMessageBody): Refusal | undefined {
  const targets = [message.token, message.topic, message.condition].filter(
    (t) => t !== undefined && t !== '',
  );
  if (targets.length > 1) {
    return fcmBadRequest('message', 'Exactly one of token, topic or condition may be set.', INVALID_ARGUMENT);
  }
  if (typeof message.topic === 'string' && !FCM_TOPIC_NAME.test(message.topic)) {
    return fcmBadRequest(
      'message.topic',
      `Invalid topic name: ${JSON.stringify(message.topic)}.`,
      INVALID_ARGUMENT,
    );
  }
  if (message.condition !== undefined) {
    const checked = typeof message.condition === 'string' ? checkFcmCondition(message.condition) : undefined;
    if (!checked || 'problem' in checked) {
      return fcmBadRequest('message.condition', 'Invalid condition expression provided.', INVALID_ARGUMENT);
    }
  }
  return undefined;
}

/**
 * SendGrid's front end answers a request of 30 MB or more 413 (SENDGRID_LIMITS.maxRequestBytes, with its source),
 * before the mail is validated (sendgrid-mail.ts).
 * @param requestBytes the request body's size in bytes
 */
export function sendgridSizeRefusal(requestBytes: number): Refusal | undefined {
  return requestBytes > SENDGRID_LIMITS.maxRequestBytes ? sendgridTooLarge() : undefined;
}

/** SendGrid's answer to a mail send body the emulator's parser refused: 413 past its size, else 400 "Bad Request". */
export function sendgridUnparseable(error: ParserRefusal): Refusal {
  return error.type === 'entity.too.large' ? sendgridTooLarge() : sendgridBadRequest();
}

/** What SendGrid's front end answers a request over its size: 413 with an HTML page, not JSON. */
export function sendgridTooLarge(): Refusal {
  return {
    status: 413,
    contentType: 'html',
    body:
      '<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n' +
      '<center><h1>413 Request Entity Too Large</h1></center>\r\n</body>\r\n</html>\r\n',
  };
}
