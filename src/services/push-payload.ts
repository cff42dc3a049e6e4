import {
  fcmPayloadBytes,
  fcmPayloadLimit,
  fcmReservedDataKeys,
  type FcmTargetKind,
} from '../providers/vendor-limits';

/**
 * What a push carries to FCM besides its title and body, and FCM's rules for it (sources in
 * providers/vendor-limits.ts): one function builds the `data` map, so accept measures exactly what dispatch sends.
 */

/** The ids Herald adds to every push's data, so the app can report engagement with them. */
export interface PushIds {
  notificationId: string;
  messageId: string;
  type: string;
}

/**
 * The FCM `data` map of a push: the send's `data` with every value a string (FCM data values are strings; others
 * are sent as their JSON, `{"n":1}` → `"{\"n\":1}"`, `12` → `"12"`), then Herald's `heraldNotificationId`,
 * `heraldMessageId` and `heraldType`, which win over keys of the same name.
 */
export function pushData(
  data: Record<string, unknown> | null | undefined,
  ids: PushIds,
): Record<string, string> {
  return {
    ...Object.fromEntries(
      Object.entries(data ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
    ),
    heraldNotificationId: ids.notificationId,
    heraldMessageId: ids.messageId,
    heraldType: ids.type,
  };
}

/** A push address's kind: `topic:<name>`, `condition:<expression>`, else a device token. */
export function pushTargetKind(to: string): FcmTargetKind {
  if (to.startsWith('topic:')) return 'topic';
  if (to.startsWith('condition:')) return 'condition';
  return 'token';
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
/** `data.from`, `data["google.c.a.e"]`: a key's path as error fields name it. */
export const dataPath = (key: string) =>
  IDENTIFIER.test(key) ? `data.${key}` : `data[${JSON.stringify(key)}]`;

/** Why FCM would refuse a push, naming the field; undefined when it would take it. */
export interface PushProblem {
  field: string;
  message: string;
}

const count = (n: number) => n.toLocaleString('en-US');

/**
 * FCM's reserved data keys ("from", "message_type", "notification", any key starting with "google" or "gcm"), or
 * undefined when the data has none. Named: the first such key (`data.from`), the others in the message.
 */
export function reservedDataKeyProblem(
  data: Record<string, unknown> | null | undefined,
): PushProblem | undefined {
  const reserved = fcmReservedDataKeys(data);
  if (reserved.length === 0) return undefined;
  const [first, ...others] = reserved;
  return {
    field: dataPath(first),
    message: `${dataPath(first)}: ${JSON.stringify(first)} is reserved by FCM, which refuses a push whose data has the key "from", "message_type" or "notification", or a key starting with "google" or "gcm"${others.length > 0 ? `; also reserved: ${others.map(dataPath).join(', ')}` : ''}`,
  };
}

/**
 * FCM's size rule for a push: its payload (keys and values of data and notification, UTF-8) is at most 4,096 bytes
 * to a device token, 2,048 to a topic or condition.
 * @param content the notification fields and the `data` map as they will be sent (pushData)
 * @param target the strictest target kind the push goes to
 * @param sizeField the field to name (accept: `data` or `content.body`; dispatch: the rendered body)
 * @returns the problem naming the size, or undefined
 */
export function payloadSizeProblem(
  content: {
    title?: string | null;
    body?: string | null;
    imageUrl?: string | null;
    data?: Record<string, string> | null;
  },
  target: FcmTargetKind,
  sizeField: string,
): PushProblem | undefined {
  const bytes = fcmPayloadBytes({
    notification: { title: content.title, body: content.body, image: content.imageUrl },
    data: content.data,
  });
  const limit = fcmPayloadLimit(target);
  if (bytes <= limit) return undefined;
  const to = target === 'token' ? 'a device token' : 'a topic or condition';
  return {
    field: sizeField,
    message: `${sizeField}: the push would carry ${count(bytes)} bytes of FCM payload (keys and values of data, Herald's ids included, and of title, body and image), over FCM's maximum of ${count(limit)} bytes to ${to}`,
  };
}
