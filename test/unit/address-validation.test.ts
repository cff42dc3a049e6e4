import { describe, expect, it } from 'vitest';
import {
  normalizeEmail,
  normalizeLocale,
  normalizePhone,
  normalizeTimezone,
  requireDisplayName,
} from '../../src/services/address-validation';
import { BadUserInputError } from '../../src/services/errors';
import { normalizeUrl } from '../../src/services/input-guard';
import { parseLocalTime } from '../../src/services/schedule-rules';

/** Each rule with its source's own examples (issue 12, Kind 2 audit). */
describe('email addresses: RFC 5322 dot-atom, RFC 5321 limits and FQDN, IDNA domains (SES: ASCII only)', () => {
  it.each([
    // RFC 5322 Appendix A.1.1 / A.1.2.
    ['john.q.public@example.com', 'john.q.public@example.com'],
    ['mary@example.net', 'mary@example.net'],
    ['jdoe@machine.example', 'jdoe@machine.example'],
    // RFC 3696 §3: the unquoted forms it lists as valid.
    ['customer/department=shipping@example.com', 'customer/department=shipping@example.com'],
    ['$A12345@example.com', '$A12345@example.com'],
    ['!def!xyz%abc@example.com', '!def!xyz%abc@example.com'],
    ['_somename@example.com', '_somename@example.com'],
    // Domains are case-insensitive (RFC 5321 §2.4) and internationalised ones go as A-labels (RFC 5890, UTS #46).
    ['  Ann@Example.COM ', 'Ann@example.com'],
    ['ann@bücher.de', 'ann@xn--bcher-kva.de'],
    ['ann@例子.广告', 'ann@xn--fsqu00a.xn--4rr70v'],
    ['ann@xn--p1ai.xn--p1ai', 'ann@xn--p1ai.xn--p1ai'],
    [`${'a'.repeat(64)}@example.com`, `${'a'.repeat(64)}@example.com`],
  ])('%j → %j', (input, normalized) => {
    expect(normalizeEmail(input, 'to.email')).toBe(normalized);
  });

  it.each([
    // RFC 3696 §3: valid only quoted or escaped, which Herald refuses (RFC 5321 §4.1.2: avoid the Quoted-string form).
    ['Abc\\@def@example.com', 'dot-atom'],
    ['Fred\\ Bloggs@example.com', 'dot-atom'],
    ['"Abc@def"@example.com', 'dot-atom'],
    ['"Fred Bloggs"@example.com', 'dot-atom'],
    // RFC 5322 §3.2.3: no leading, trailing or double dots.
    ['.ann@example.com', 'dot-atom'],
    ['ann.@example.com', 'dot-atom'],
    ['a..b@example.com', 'dot-atom'],
    ['ann lee@example.com', 'dot-atom'],
    ['jöhn@example.com', 'must be ASCII'],
    [`${'a'.repeat(65)}@example.com`, 'over 64 characters'],
    [`a@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(61)}.com`, 'over 254 characters'],
    ['not-an-email', 'expected local-part@domain'],
    ['@example.com', 'expected local-part@domain'],
    ['ann@', 'expected local-part@domain'],
    ['ann@localhost', 'fully-qualified'],
    ['ann@192.0.2.1', 'fully-qualified'],
    ['ann@[192.0.2.1]', 'domain name'],
    ['ann@-example.com', 'domain name'],
    ['ann@example-.com', 'domain name'],
    ['ann@exa_mple.com', 'domain name'],
    ['ann@example..com', 'domain name'],
    ['ann@example.com.', 'domain name'],
    ['ann@ex%41mple.com', 'domain name'],
    [`ann@${'b'.repeat(64)}.com`, 'domain name'],
  ])('%j is refused (%s), naming the field', (input, rule) => {
    expect(() => normalizeEmail(input, 'to.email')).toThrow(BadUserInputError);
    expect(() => normalizeEmail(input, 'to.email')).toThrow(/^to\.email: .* is not a valid email address: /);
    expect(() => normalizeEmail(input, 'to.email')).toThrow(rule);
  });
});

describe('phone numbers: E.164 with libphonenumber-js metadata', () => {
  it.each([
    ['+14155552671', '+14155552671'],
    ['+1 (415) 555-2671', '+14155552671'],
    ['whatsapp:+442071838750', '+442071838750'],
  ])('%j → %j', (input, normalized) => {
    expect(normalizePhone(input, 'to.phone')).toBe(normalized);
  });
  it.each(['4155552671', '+1 555', '+99', '+1415555267100', '+1415555267a'])('%j is refused', (input) => {
    expect(() => normalizePhone(input, 'to.phone')).toThrow('to.phone: ');
  });
});

describe('locales: BCP 47 (RFC 5646) through Intl.getCanonicalLocales', () => {
  // RFC 5646 Appendix A examples.
  it.each([
    ['de', 'de'],
    ['zh-Hant', 'zh-Hant'],
    ['zh-Hans-CN', 'zh-Hans-CN'],
    ['sr-Latn-RS', 'sr-Latn-RS'],
    ['es-419', 'es-419'],
    ['de-CH-1901', 'de-CH-1901'],
    ['en-US-x-twain', 'en-US-x-twain'],
    ['en-us', 'en-US'],
  ])('%j → %j', (input, canonical) => {
    expect(normalizeLocale(input, 'locale')).toBe(canonical);
  });
  // RFC 5646 Appendix A "some invalid tags", and an underscore (a POSIX locale, not BCP 47).
  it.each(['de-419-DE', 'a-DE', 'ar-a-aaa-b-bbb-a-ccc', 'en_US', ''])('%j is refused', (input) => {
    expect(() => normalizeLocale(input, 'locale')).toThrow('locale: ');
  });
});

describe('time zones: IANA names through Intl', () => {
  it.each([
    ['America/New_York', 'America/New_York'],
    ['Europe/London', 'Europe/London'],
    ['America/Sao_Paulo', 'America/Sao_Paulo'],
    ['utc', 'UTC'],
  ])('%j → %j', (input, name) => {
    expect(normalizeTimezone(input, 'timezone')).toBe(name);
  });
  it.each(['Mars/Olympus', '+05:00', '-0300', '\u221205:00', 'GMT+25', ''])('%j is refused', (input) => {
    expect(() => normalizeTimezone(input, 'timezone')).toThrow('is not an IANA time zone');
  });
});

describe('URLs: absolute http(s) by the WHATWG URL Standard, returned as it serialises them', () => {
  it.each([
    ['https://media.example.com/1.jpg', 'https://media.example.com/1.jpg'],
    ['HTTP://Example.com/a?b=c#d', 'http://example.com/a?b=c#d'],
    ['https://[2001:db8::1]/x.png', 'https://[2001:db8::1]/x.png'],
    // What the parser repairs is what Herald stores and sends (break12 finding 2): the vendor fetches what was checked.
    ['https://e.x/a b', 'https://e.x/a%20b'],
    ['https://e.x\t/a', 'https://e.x/a'],
    ['https://e.x/a\nb', 'https://e.x/ab'],
    ['http://e.x\\@evil.com/', 'http://e.x/@evil.com/'],
    ['https://e.x:443/./a/../b', 'https://e.x/b'],
    ['https://bücher.example/ü', 'https://xn--bcher-kva.example/%C3%BC'],
  ])('%j is accepted as %j', (url, href) => {
    expect(normalizeUrl(url, 'content.imageUrl')).toBe(href);
  });
  it.each([
    'ftp://example.com/x',
    'javascript:alert(1)',
    'https://',
    'http://exa mple.com/',
    'https:example.com',
    ' https://example.com/x',
    '/relative/path.png',
    'https://%zz/',
  ])('%j is refused naming the field', (url) => {
    expect(() => normalizeUrl(url, 'content.imageUrl')).toThrow(
      'content.imageUrl: must be an absolute http(s) URL (WHATWG URL Standard)',
    );
  });
  it('a URL that percent-encoding takes past 2,048 characters is refused', () => {
    expect(() => normalizeUrl(`https://e.x/${' '.repeat(1_000)}x`, 'content.mediaUrls[0]')).toThrow(
      'content.mediaUrls[0]: must be at most 2048 characters once percent-encoded (WHATWG URL Standard)',
    );
  });
});

describe('local times: ISO 8601 extended hh:mm, 24-hour clock', () => {
  it.each([
    ['00:00', { hour: 0, minute: 0 }],
    ['08:30', { hour: 8, minute: 30 }],
    [' 23:59 ', { hour: 23, minute: 59 }],
  ])('%j → %j', (input, time) => {
    expect(parseLocalTime(input, 'input.quietHours.start')).toEqual(time);
  });
  it.each(['24:00', '8:30', '0830', '08:60', '08:30:00', '8pm'])('%j is refused', (input) => {
    expect(() => parseLocalTime(input, 'input.quietHours.start')).toThrow('input.quietHours.start: ');
  });
});

describe('display names: NFC (UAX #15), no controls or format characters (UTS #36; CVE-2021-42574)', () => {
  it('normalises to NFC and trims: a decomposed and a composed é are one name', () => {
    expect(requireDisplayName('  cafe\u0301 ', 'input.name')).toBe('caf\u00e9');
    expect(requireDisplayName('Ω Ohm \u212b', 'input.name')).toBe('Ω Ohm \u00c5'); // UAX #15: Å (U+212B) → U+00C5
    expect(requireDisplayName('Twilio — US numbers 🇺🇸', 'input.name')).toBe('Twilio — US numbers 🇺🇸');
  });

  it.each([
    ['line\nbreak', 'U+000A'],
    ['del\u007f', 'U+007F'],
    ['c1\u0085control', 'U+0085'],
    ['zero\u200bwidth', 'U+200B'],
    ['joiner\u200dhidden', 'U+200D'],
    // The Trojan Source paper's bidi controls: LRE…RLO, and the isolates LRI…PDI.
    ['right\u202eto-left', 'U+202E'],
    ['isolate\u2066x\u2069', 'U+2066'],
    ['soft\u00adhyphen', 'U+00AD'],
    // Line and paragraph separators (Zl, Zp) break a line as a newline does.
    ['line\u2028separator', 'U+2028'],
    ['paragraph\u2029separator', 'U+2029'],
  ])('refuses %j naming the character', (name, codePoint) => {
    expect(() => requireDisplayName(name, 'input.name')).toThrow(
      new BadUserInputError(
        `input.name: must not contain control or invisible formatting characters (found ${codePoint})`,
        'input.name',
      ),
    );
  });

  it('refuses empty and over-long names after normalisation', () => {
    expect(() => requireDisplayName(' \t ', 'input.name')).toThrow('input.name: must not be empty');
    expect(() => requireDisplayName('x'.repeat(101), 'input.name', 100)).toThrow('at most 100 characters');
  });
});
