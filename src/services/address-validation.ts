import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { BadUserInputError } from './errors';
import { assertKeyBytes, quote } from './input-guard';
import { INPUT_LIMITS } from './input-limits';

/** Pragmatic RFC 5322 subset: one @, a dotted domain, no spaces. Providers do the final check. */
const EMAIL = /^[^\s@"(),:;<>[\\\]]+@[^\s@"(),:;<>[\\\]]+\.[A-Za-z]{2,}$/;

export function normalizeEmail(value: string, field: string): string {
  const trimmed = value.trim();
  if (!EMAIL.test(trimmed) || trimmed.length > 254) {
    throw new BadUserInputError(`${field}: ${quote(value)} is not a valid email address`, field);
  }
  return trimmed;
}

/** Accepts only E.164 (+ and country code), checked for validity with libphonenumber-js metadata. */
export function normalizePhone(value: string, field: string): string {
  const trimmed = value.trim().replace(/^whatsapp:/, '');
  const parsed = trimmed.startsWith('+') ? parsePhoneNumberFromString(trimmed) : undefined;
  if (!parsed || !parsed.isValid() || parsed.number !== trimmed.replace(/[\s().-]/g, '')) {
    throw new BadUserInputError(`${field}: ${quote(value)} is not a valid E.164 number`, field);
  }
  return parsed.number;
}

export function normalizeLocale(value: string, field: string): string {
  try {
    return Intl.getCanonicalLocales(value.trim())[0];
  } catch {
    throw new BadUserInputError(`${field}: ${quote(value)} is not a valid BCP 47 locale`, field);
  }
}

export function normalizeTimezone(value: string, field: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: value.trim() }).resolvedOptions().timeZone;
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
