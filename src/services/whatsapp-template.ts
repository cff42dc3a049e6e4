import type { WhatsappTemplate } from '../entities';
import { quote } from './input-guard';

/**
 * Twilio's rules for a WhatsApp template send (Content API), so Herald refuses at accept what Twilio would refuse at
 * send:
 * - `contentSid` matches `^HX[0-9a-fA-F]{32}$`: the Content resource's `sid` pattern
 *   (https://www.twilio.com/docs/content/content-api-resources; Twilio error 21655 "The ContentSid is Invalid").
 * - `contentVariables` is an object of at most 100 key-value pairs ("You can include up to 100 key-value pairs per
 *   request", https://www.twilio.com/docs/content/send-templates-created-with-the-content-template-builder).
 * - A key is numeric or alphanumeric, without spaces, of at most 16 characters
 *   (https://www.twilio.com/docs/content/using-variables-with-content-api).
 * - A value is a non-empty string without a newline, a tab or more than four consecutive spaces (Twilio error 21656,
 *   https://www.twilio.com/docs/api/errors/21656) of at most 1,600 characters (Twilio error 21658,
 *   https://www.twilio.com/docs/api/errors/21658).
 */
export const WHATSAPP_TEMPLATE_RULES = {
  contentSid: /^HX[0-9a-fA-F]{32}$/,
  maxVariables: 100,
  variableKey: /^[A-Za-z0-9]{1,16}$/,
  maxValueChars: 1_600,
  /** Newline, tab, or five spaces in a row (more than four). */
  badWhitespace: /[\r\n\t]| {5}/,
} as const;

/**
 * Why a rendered (or literal) variable value would be refused by Twilio, or undefined when it would not.
 * @param value the value as it will be sent
 */
export function variableValueProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `must be a string (got ${value === null ? 'null' : typeof value})`;
  if (value === '') return 'must not be empty (Twilio error 21656)';
  if (value.length > WHATSAPP_TEMPLATE_RULES.maxValueChars)
    return `must be at most ${WHATSAPP_TEMPLATE_RULES.maxValueChars} characters (Twilio error 21658; got ${value.length})`;
  if (WHATSAPP_TEMPLATE_RULES.badWhitespace.test(value))
    return 'must not contain a newline, a tab or more than four spaces in a row (Twilio error 21656)';
  return undefined;
}

/**
 * Checks a WhatsApp template given with a send (`content.whatsappTemplate`) or saved on a type
 * (`input.templates[i].whatsappTemplate`, whose values are Liquid and are checked again once rendered).
 * @param field the input's path, e.g. `content.whatsappTemplate`; problems name `${field}.contentSid` and so on
 * @param liquid true for a type template: values are Liquid sources, so only their presence and type are checked here
 * @returns the template with a trimmed SID and a plain object of variables
 * @throws the first problem as `{ field, message }` (the caller turns it into BAD_USER_INPUT or TEMPLATE_ERROR)
 */
export function checkWhatsappTemplate(
  template: { contentSid?: unknown; contentVariables?: unknown },
  field: string,
  liquid = false,
): { value: WhatsappTemplate } | { problem: { field: string; message: string } } {
  const sid = typeof template.contentSid === 'string' ? template.contentSid.trim() : '';
  if (!WHATSAPP_TEMPLATE_RULES.contentSid.test(sid)) {
    return {
      problem: {
        field: `${field}.contentSid`,
        message: `${field}.contentSid: ${typeof template.contentSid === 'string' ? quote(template.contentSid) : 'a non-string value'} is not a Twilio Content SID (HX followed by 32 hex digits, e.g. HXb5b62575e6e4ff6129ad7c8efe1f983e)`,
      },
    };
  }
  const variables = template.contentVariables;
  if (variables === null || variables === undefined)
    return { value: { contentSid: sid, contentVariables: null } };
  const path = `${field}.contentVariables`;
  if (typeof variables !== 'object' || Array.isArray(variables)) {
    return {
      problem: {
        field: path,
        message: `${path}: must be an object of placeholder values, e.g. {"1": "Ada"}`,
      },
    };
  }
  const entries = Object.entries(variables as Record<string, unknown>);
  if (entries.length > WHATSAPP_TEMPLATE_RULES.maxVariables) {
    return {
      problem: {
        field: path,
        message: `${path}: at most ${WHATSAPP_TEMPLATE_RULES.maxVariables} variables per message (Twilio's maximum; got ${entries.length})`,
      },
    };
  }
  for (const [key, value] of entries) {
    const named = `${path}[${JSON.stringify(key)}]`;
    if (!WHATSAPP_TEMPLATE_RULES.variableKey.test(key)) {
      return {
        problem: {
          field: named,
          message: `${named}: a placeholder key is 1 to 16 letters or digits, e.g. "1" (Twilio Content API)`,
        },
      };
    }
    const problem = liquid
      ? typeof value === 'string' && value.trim() !== ''
        ? undefined
        : 'must be a non-empty Liquid string'
      : variableValueProblem(value);
    if (problem) return { problem: { field: named, message: `${named}: ${problem}` } };
  }
  return { value: { contentSid: sid, contentVariables: Object.fromEntries(entries) } };
}
