import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { domainToASCII } from 'node:url';
import { firstHiddenCharacter } from '../domain/hidden-characters';
import { checkFcmCondition, checkFcmTopic } from '../providers/fcm-target';
import { BadUserInputError } from './errors';
import { assertKeyBytes, quote } from './input-guard';
import { INPUT_LIMITS } from './input-limits';

/**
 * RFC 5322 §3.2.3 dot-atom-text: one or more `atext` runs (letters, digits and ! # $ % & ' * + - / = ? ^ _ ` { | } ~)
 * joined by single dots. The quoted-string form of §3.4.1 is refused: RFC 5321 §4.1.2 asks hosts to avoid it "for
 * maximum interoperability", and an address that needs it is not one a notification should go to.
 */
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
/** RFC 1035 §2.3.1 / RFC 5890 §2.3.1 LDH label (letters, digits, inner hyphens), 1–63 octets (RFC 1035 §2.3.4). */
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** RFC 5321 §4.5.3.1.1: local part at most 64 octets. */
const MAX_LOCAL = 64;
/** RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its angle brackets, so an address at most 254. */
const MAX_ADDRESS = 254;

/**
 * An email address as the providers take it (SendGrid, and SES, whose Destination accepts 7-bit ASCII only: "the local
 * part … may only contain 7-bit ASCII characters … the domain part … must be encoded using Punycode";
 * https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_Destination.html). Rules, each named in the error:
 * - `local@domain`, the local part an RFC 5322 §3.2.3 dot-atom (DOT_ATOM), at most 64 octets (RFC 5321 §4.5.3.1.1);
 * - the domain a fully-qualified domain name (RFC 5321 §2.3.5): at least two LDH labels, an internationalised one
 *   converted to its A-label with the WHATWG URL Standard's domainToASCII (UTS #46, node:url), not an IP literal, and a
 *   top-level label that is not all digits (RFC 3696 §2);
 * - at most 254 characters in all (RFC 5321 §4.5.3.1.3).
 * @returns the address trimmed, its domain lowercased ASCII (`Ann@Bücher.DE` → `Ann@xn--bcher-kva.de`); the local
 *   part keeps its case (RFC 5321 §2.4: it may be case-sensitive).
 * @throws BadUserInputError naming `field` and the rule broken.
 */
export function normalizeEmail(value: string, field: string): string {
  const trimmed = value.trim();
  const refuse = (rule: string): never => {
    throw new BadUserInputError(`${field}: ${quote(value)} is not a valid email address: ${rule}`, field);
  };
  const at = trimmed.lastIndexOf('@');
  if (at < 1 || at === trimmed.length - 1) refuse('expected local-part@domain');
  const local = trimmed.slice(0, at);
  const domainPart = trimmed.slice(at + 1);
  if (!DOT_ATOM.test(local)) {
    refuse(
      /[^\p{ASCII}]/u.test(local)
        ? 'the part before "@" must be ASCII (SES does not support SMTPUTF8, RFC 6531)'
        : 'the part before "@" must be letters, digits or !#$%&\'*+-/=?^_`{|}~, with single dots between them (RFC 5322 dot-atom)',
    );
  }
  if (local.length > MAX_LOCAL) refuse(`the part before "@" is over ${MAX_LOCAL} characters (RFC 5321)`);
  // domainToASCII percent-decodes as URL hosts do; "%" has no place in a domain name.
  const domain = domainPart.includes('%') ? '' : domainToASCII(domainPart);
  const labels = domain.split('.');
  if (!domain || !labels.every((label) => LDH_LABEL.test(label))) {
    refuse('the domain must be a domain name: letters, digits and inner hyphens between dots');
  }
  if (labels.length < 2 || /^\d+$/.test(labels[labels.length - 1])) {
    refuse('the domain must be a fully-qualified internet domain such as example.com (RFC 5321 §2.3.5)');
  }
  const address = `${local}@${domain}`;
  if (address.length > MAX_ADDRESS) refuse(`over ${MAX_ADDRESS} characters (RFC 5321)`);
  return address;
}

/**
 * An ITU-T E.164 number ("+" and country code), checked for validity with libphonenumber-js's metadata (the port of
 * Google's libphonenumber): a number that cannot exist in its country's numbering plan is refused. Spaces, dots,
 * dashes and brackets are allowed between digits; a `whatsapp:` prefix is dropped.
 * @returns the number in E.164 (`+14155552671`).
 * @throws BadUserInputError naming `field`.
 */
export function normalizePhone(value: string, field: string): string {
  const trimmed = value.trim().replace(/^whatsapp:/, '');
  const parsed = trimmed.startsWith('+') ? parsePhoneNumberFromString(trimmed) : undefined;
  if (!parsed || !parsed.isValid() || parsed.number !== trimmed.replace(/[\s().-]/g, '')) {
    throw new BadUserInputError(`${field}: ${quote(value)} is not a valid E.164 number`, field);
  }
  return parsed.number;
}

/**
 * A BCP 47 language tag (RFC 5646), canonicalised by ECMA-402's Intl.getCanonicalLocales (`en-us` → `en-US`). ECMA-402
 * takes Unicode BCP 47 locale identifiers (UTS #35), so grandfathered (`i-klingon`) and private-use-only (`x-…`) tags
 * are refused too.
 * @throws BadUserInputError naming `field`.
 */
export function normalizeLocale(value: string, field: string): string {
  try {
    return Intl.getCanonicalLocales(value.trim())[0];
  } catch {
    throw new BadUserInputError(`${field}: ${quote(value)} is not a valid BCP 47 locale`, field);
  }
}

/**
 * An IANA time zone name (https://www.iana.org/time-zones), as Intl (ICU's copy of the tz database) knows it; the
 * name Intl resolves it to is stored (`utc` → `UTC`). A UTC offset (`+05:00`) is refused: Intl accepts offsets from
 * Node 22 on (ECMA-402 2024), but an offset has no daylight-saving rules, so quiet hours would drift, and Node 20
 * and 22 must agree.
 * @throws BadUserInputError naming `field`.
 */
export function normalizeTimezone(value: string, field: string): string {
  const name = value.trim();
  try {
    if (/^[+\-\u2212]/.test(name)) throw new RangeError('a UTC offset is not a time zone name');
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    throw new BadUserInputError(`${field}: ${quote(value)} is not an IANA time zone`, field);
  }
}

/**
 * A required id or key, trimmed: not empty, at most `max` characters and at most `maxBytes` UTF-8 bytes (default
 * INPUT_LIMITS.indexedKeyBytes: such values are index entries, and PostgreSQL refuses an entry above ~2,704 bytes).
 * Throws BAD_USER_INPUT naming `field`.
 */
export function requireNonEmpty(
  value: string | undefined | null,
  field: string,
  max = 200,
  maxBytes: number = INPUT_LIMITS.indexedKeyBytes.max,
): string {
  const trimmed = value?.trim() ?? '';
  if (!trimmed) throw new BadUserInputError(`${field}: must not be empty`, field);
  if (trimmed.length > max) throw new BadUserInputError(`${field}: must be at most ${max} characters`, field);
  assertKeyBytes(trimmed, field, maxBytes);
  return trimmed;
}

/**
 * A name people read (a channel config's or notification type's `name`): trimmed, in Unicode NFC (so a composed and a
 * decomposed "é" are one name; UAX #15), not empty, at most `max` characters after normalisation, without control,
 * format or line-separator characters (src/domain/hidden-characters.ts). Returns the normalised name. Throws BAD_USER_INPUT naming `field`.
 */
export function requireDisplayName(value: string | undefined | null, field: string, max = 200): string {
  const name = requireNonEmpty(value?.normalize('NFC'), field, max);
  const hidden = firstHiddenCharacter(name);
  if (hidden)
    throw new BadUserInputError(
      `${field}: must not contain control or invisible formatting characters (found ${hidden})`,
      field,
    );
  return name;
}

/**
 * An FCM topic name by FCM's documented rule and firebase-admin's check (providers/fcm-target.ts, checkFcmTopic):
 * `[a-zA-Z0-9-_.~%]+`, an optional `/topics/` prefix dropped. Trimmed and held to requireNonEmpty's 200 characters
 * first (a Herald index key; FCM documents no length).
 * @returns the bare name (`/topics/news` → `news`), as firebase-admin sends it.
 * @throws BadUserInputError naming `field` and the rule (`to.topic: "a b/c" is not a valid FCM topic name: " " at
 *   character 2 is not allowed; FCM topic names match …`).
 */
export function normalizeFcmTopic(value: string, field: string): string {
  const checked = checkFcmTopic(requireNonEmpty(value, field));
  if ('problem' in checked) {
    throw new BadUserInputError(
      `${field}: ${quote(value)} is not a valid FCM topic name: ${checked.problem}`,
      field,
    );
  }
  return checked.value;
}

/**
 * An FCM topic condition by FCM's grammar (providers/fcm-target.ts, checkFcmCondition): `'topic' in topics` terms
 * joined by && and ||, ! and parentheses, at most 5 topics. Trimmed and held to 1,000 characters first.
 * @returns the condition trimmed.
 * @throws BadUserInputError naming `field`, the token and its position, and the rule.
 */
export function normalizeFcmCondition(value: string, field: string): string {
  const checked = checkFcmCondition(requireNonEmpty(value, field, 1000));
  if ('problem' in checked) {
    throw new BadUserInputError(
      `${field}: ${quote(value)} is not a valid FCM condition: ${checked.problem}`,
      field,
    );
  }
  return checked.value;
}
