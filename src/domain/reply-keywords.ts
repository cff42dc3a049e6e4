/**
 * What an inbound SMS/WhatsApp reply asks for: opt out, opt back in, help, or nothing (a message for a person).
 * Pure: no I/O, no vendor types; the Twilio parser (and any later inbound channel) calls it.
 *
 * Sources:
 * - 47 CFR 64.1200(a)(10), adopted by FCC 24-24 ("Strengthening the Ability of Consumers To Stop Robocalls", in force
 *   since 11 April 2025): consent may be revoked "by any reasonable means"; a reply text using "stop", "quit", "end",
 *   "revoke", "opt out", "cancel" or "unsubscribe" is such a means
 *   (https://www.ecfr.gov/current/title-47/section-64.1200, https://docs.fcc.gov/public/attachments/FCC-24-24A1.pdf).
 * - Twilio's default opt-out, opt-in and help keywords (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE,
 *   OPTOUT; START, YES, UNSTOP; HELP, INFO): https://help.twilio.com/articles/223134027.
 * - CTIA Messaging Principles and Best Practices (2023), "Opt-Out": carriers expect STOP and the universal words END,
 *   CANCEL, UNSUBSCRIBE and QUIT to be honoured, and HELP answered
 *   (https://www.ctia.org/the-wireless-industry/industry-commitments/messaging-interoperability-sms-mms).
 *
 * The rule (issue 12, documented in the README): the reply is normalised (normalizeReply); it is an opt-out when the
 * whole reply is an opt-out keyword, or when it starts with STOP, UNSUBSCRIBE or OPT OUT and has at most four words
 * ("stop please", "STOP texting me"). Any other reply that mentions an opt-out word ("End of day works", "please don't
 * stop") is kept for a person and flagged `possibleOptOut`: the FCC asks for revocation in any reasonable wording, which
 * no word list decides alone.
 */

// A reply of single letters separated by spaces ("S T O P", "s.t.o.p" after normalisation) is read as the word the
// letters spell: a whole opt-out keyword is an opt-out, one containing an opt-out word ("S T O P P L S") is flagged.

export type ReplyKeyword = 'STOP' | 'START' | 'HELP';

export interface ReplyClassification {
  /** STOP (opt out), START (opt back in), HELP (answer with the help text), or null. */
  keyword: ReplyKeyword | null;
  /** Not an opt-out by the rule, but it mentions an opt-out word: a person should read it. */
  possibleOptOut: boolean;
  /** The reply as normalizeReply leaves it ('' for an empty or emoji-only reply). */
  normalized: string;
}

/** Whole-reply opt-out keywords (Twilio's list plus the FCC's "opt out"), after normalisation. */
const OPT_OUT_WHOLE = new Set([
  'stop',
  'stopall',
  'unsubscribe',
  'cancel',
  'end',
  'quit',
  'revoke',
  'optout',
  'opt out',
]);
/** A reply of at most MAX_LEADING_WORDS words that starts with one of these is an opt-out ("stop texting me"). */
const OPT_OUT_LEADING: readonly (readonly string[])[] = [['stop'], ['unsubscribe'], ['opt', 'out']];
const MAX_LEADING_WORDS = 4;
/** Single words whose mention anywhere flags a reply for a person (the phrase "opt out" is checked apart). */
const OPT_OUT_WORDS = new Set([...OPT_OUT_WHOLE].filter((k) => !k.includes(' ')));
const OPT_IN_WHOLE = new Set(['start', 'unstop', 'yes']);
const HELP_WHOLE = new Set(['help', 'info']);

/** Apostrophes join a word ("don't" → "dont"); straight, right single quotation mark, modifier letter. */
const APOSTROPHES = /['\u2019\u02BC]/gu;
/** Dashes of every kind (Unicode Pd: hyphen-minus, en dash, em dash…) separate words ("opt-out" → "opt out"). */
const DASHES = /\p{Pd}/gu;
/**
 * Characters that show nothing and so must not split a word: format characters (Cf: zero-width space, ZWNJ, ZWJ,
 * word joiner, soft hyphen, bidi controls, tag characters, BOM), every other default-ignorable code point (variation
 * selectors, Hangul fillers, combining grapheme joiner; Unicode DerivedCoreProperties.txt), combining marks (M, after
 * NFKD: "S̶T̶O̶P̶", "stóp", the keycap U+20E3) and control characters other than white space (Cc: "STOP\u0007").
 * They are deleted, not turned into spaces: "S\u200BTOP" reads as "STOP" on the phone, so it is STOP here.
 * Controls that are white space (tab, line feed, vertical tab, form feed, carriage return, NEL) stay: they separate
 * words, and SPACES folds them.
 */
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}\p{M}]|(?![\t\n\v\f\r\u0085])\p{Cc}/gu;
/**
 * Punctuation, symbols (emoji are So, skin tones Sk) and any other pictograph. Each becomes a space, so
 * "stop,please" stays two words; spaces are folded afterwards.
 */
const NOT_WORDS = /[\p{P}\p{S}\p{Extended_Pictographic}]/gu;
/** White space (JavaScript's \s) plus NEL (U+0085), a line break that \s leaves out. */
const SPACES = /[\s\u0085]+/gu;

/**
 * The reply as the keyword rule reads it: compatibility-decomposed (NFKD: fullwidth "ＳＴＯＰ" → "STOP", "ſ" → "s",
 * "ó" → "o" + U+0301), lower case, invisible characters, combining marks and controls deleted (INVISIBLE),
 * recomposed (NFKC), apostrophes dropped, dashes to spaces, other punctuation, symbols and emoji to spaces, runs of
 * white space folded to one, trimmed. Look-alike letters from other scripts (Cyrillic "ЅТОР") are not mapped: that
 * needs Unicode's confusables table (UTS #39), see the README.
 */
export function normalizeReply(body: string): string {
  return body
    .normalize('NFKD')
    .toLowerCase()
    .replace(INVISIBLE, '')
    .normalize('NFKC')
    .replace(APOSTROPHES, '')
    .replace(DASHES, ' ')
    .replace(NOT_WORDS, ' ')
    .replace(SPACES, ' ')
    .trim();
}

const startsWith = (words: string[], prefix: readonly string[]) => prefix.every((w, i) => words[i] === w);

/** Does the reply mention an opt-out word or the phrase "opt out" anywhere? */
const mentionsOptOut = (words: string[]) =>
  words.some((w, i) => OPT_OUT_WORDS.has(w) || (w === 'opt' && words[i + 1] === 'out'));

/**
 * Classifies an inbound reply (any length; linear in it) by the rule above. Opting out wins over everything else.
 * @example classifyReply('Opt-out') → { keyword: 'STOP', possibleOptOut: false, normalized: 'opt out' }
 * @example classifyReply('End of day works') → { keyword: null, possibleOptOut: true, normalized: 'end of day works' }
 */
export function classifyReply(body: string): ReplyClassification {
  const normalized = normalizeReply(body);
  const words = normalized === '' ? [] : normalized.split(' ');
  // A reply spelled out letter by letter ("S T O P", "s.t.o.p") is read as the word it spells: the FCC counts any
  // reasonable means of revoking, and a spelled-out STOP is unmistakable; letters are never a word of their own.
  const spelled = words.length >= 2 && words.every((w) => [...w].length === 1) ? words.join('') : null;
  const optOut =
    OPT_OUT_WHOLE.has(normalized) ||
    (spelled !== null && OPT_OUT_WHOLE.has(spelled)) ||
    (words.length <= MAX_LEADING_WORDS && OPT_OUT_LEADING.some((lead) => startsWith(words, lead)));
  if (optOut) return { keyword: 'STOP', possibleOptOut: false, normalized };
  const keyword: ReplyKeyword | null = OPT_IN_WHOLE.has(normalized)
    ? 'START'
    : HELP_WHOLE.has(normalized)
      ? 'HELP'
      : null;
  const spelledMention = spelled !== null && [...OPT_OUT_WORDS].some((w) => spelled.includes(w));
  return { keyword, possibleOptOut: mentionsOptOut(words) || spelledMention, normalized };
}
