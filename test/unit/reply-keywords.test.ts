import { describe, expect, it } from 'vitest';
import { classifyReply, normalizeReply } from '../../src/domain/reply-keywords';

/**
 * Herald's reply rule (issue 12). Examples: the issue's own, the FCC's word list (47 CFR 64.1200(a)(10), FCC 24-24:
 * "stop", "quit", "end", "revoke", "opt out", "cancel", "unsubscribe"), Twilio's default keywords
 * (https://help.twilio.com/articles/223134027: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT; START,
 * YES, UNSTOP; HELP, INFO) and Twilio's own counter-examples ("STOP PLEASE", "PLEASE CANCEL" do not trigger its block).
 */
describe('normalizeReply: NFKC, case, punctuation and emoji, hyphens and spaces', () => {
  it.each([
    ['ＳＴＯＰ', 'stop'],
    ['STOP.', 'stop'],
    ['  Stop!!  ', 'stop'],
    ['opt-out', 'opt out'],
    ['Opt\u2013Out', 'opt out'],
    ['🛑 stop', 'stop'],
    ['stop 👋🏽', 'stop'],
    ['stop\u200d\ufe0f', 'stop'],
    ['stop,please', 'stop please'],
    ["please don't stop", 'please dont stop'],
    ['please don\u2019t stop', 'please dont stop'],
    ['STOP\n\ttexting   me', 'stop texting me'],
    ['🙂', ''],
    ['', ''],
    // Invisible characters are deleted, not turned into spaces: they must not split a word (break12 finding 1).
    ['S\u200BTOP', 'stop'], // zero-width space
    ['ST\u200COP', 'stop'], // zero-width non-joiner
    ['STO\u200DP', 'stop'], // zero-width joiner
    ['S\u00ADTOP', 'stop'], // soft hyphen
    ['ST\u2060OP', 'stop'], // word joiner
    ['\uFEFFSTOP', 'stop'], // byte order mark
    ['\u200FSTOP\u202E', 'stop'], // bidi marks and overrides
    ['S\u{E0054}TOP', 'stop'], // tag character
    ['ST\u034FOP', 'stop'], // combining grapheme joiner (default-ignorable)
    ['S\u3164TOP', 'stop'], // Hangul filler (default-ignorable, looks like nothing)
    // Combining marks are stripped after NFKD; controls other than white space are deleted.
    ['S\u0336T\u0336O\u0336P\u0336', 'stop'], // strikethrough "S̶T̶O̶P̶"
    ['stop\u0301', 'stop'],
    ['STÖP', 'stop'],
    ['\u0130', 'i'], // "İ" lower-cases to i + U+0307; the mark goes too
    ['STOP\u0007', 'stop'],
    ['unsubscribe\u0000', 'unsubscribe'],
    ['ST\u007FOP', 'stop'],
    ['stop\u0085please', 'stop please'], // NEL is a line break
    ['stop\r\nplease', 'stop please'],
    ['ſtop', 'stop'], // long s (NFKD)
    ['𝐒𝐓𝐎𝐏', 'stop'], // mathematical bold (NFKD)
    ['한국', '한국'], // Hangul decomposes and recomposes
    // Look-alike letters from other scripts are not mapped (no confusables table; README).
    ['ЅТОР', 'ѕтор'],
  ])('%j → %j', (body, normalized) => {
    expect(normalizeReply(body)).toBe(normalized);
  });
});

describe('classifyReply', () => {
  it.each([
    // Twilio's and the FCC's keywords, whole reply, any case.
    'STOP',
    'stop',
    'StopAll',
    'unsubscribe',
    'cancel',
    'END',
    'quit',
    'revoke',
    'optout',
    'OPTOUT',
    'opt out',
    // The examples.
    'Opt out',
    'opt-out',
    'Stop please',
    'STOP.',
    'ＳＴＯＰ',
    'STOP texting me',
    '🛑 stop',
    'Cancel!',
    // Twilio's own counter-example, which Herald honours: it starts with STOP and has at most four words.
    'STOP PLEASE',
    'Unsubscribe me now please',
    'opt out of this',
    'stop,please',
    // Invisible characters, combining marks and controls inside or around the word.
    'S\u200BTOP',
    'ST\u200COP',
    'STO\u200DP',
    'S\u00ADTOP',
    'ST\u2060OP',
    'S\u{E0054}TOP',
    'S\u0336T\u0336O\u0336P\u0336',
    'stop\u0301',
    'STOP\u0007',
    'opt\u200B-\u200Bout',
    'UN\u00ADSUB\u00ADSCRIBE',
  ])('%j is an opt-out', (body) => {
    expect(classifyReply(body)).toMatchObject({ keyword: 'STOP', possibleOptOut: false });
  });

  it.each([
    // Mentions an opt-out word, but is not one by the rule: kept for a person, consent untouched.
    'End of day works',
    "please don't stop",
    'PLEASE CANCEL',
    'I want to cancel my order',
    'Stop sending me these messages now',
    'Can I opt out of the marketing ones only?',
    'optout now please',
    'quit it',
    'it is the end',
    'please don\u200Bt s\u200Btop',
    'I want to c\u0336ancel my order',
  ])('%j is flagged possible_opt_out', (body) => {
    expect(classifyReply(body)).toMatchObject({ keyword: null, possibleOptOut: true });
  });

  it.each([
    ['START', 'START'],
    ['yes', 'START'],
    ['Yes!', 'START'],
    ['unstop', 'START'],
    ['ＳＴＡＲＴ', 'START'],
    ['S\u200BTART', 'START'],
    ['UN\u00ADSTOP', 'START'],
    ['HE\u2060LP', 'HELP'],
    ['help', 'HELP'],
    ['HELP?', 'HELP'],
    ['INFO', 'HELP'],
  ])('%j → %s', (body, keyword) => {
    expect(classifyReply(body)).toMatchObject({ keyword, possibleOptOut: false });
  });

  it.each(['Is my payment done?', 'Stopping by at 5', 'yes please', 'weekend works', 'opted in', '', '🙂'])(
    '%j is a plain reply',
    (body) => {
      expect(classifyReply(body)).toMatchObject({ keyword: null, possibleOptOut: false });
    },
  );
});

describe('classifyReply: letters spelled out one by one (break final, finding 6)', () => {
  it.each([
    'S T O P',
    's t o p',
    'S.T.O.P.',
    'S  T  O  P',
    'U N S U B S C R I B E',
    'o p t o u t',
    'Q U I T',
  ])('%s is an opt-out: the letters spell a whole opt-out keyword', (body) => {
    expect(classifyReply(body)).toMatchObject({ keyword: 'STOP', possibleOptOut: false });
  });

  it.each(['S T O P P L S', 'p l s s t o p'])('%s is flagged for a person', (body) => {
    expect(classifyReply(body)).toMatchObject({ keyword: null, possibleOptOut: true });
  });

  it.each(['A B C', 'I O U', 'Y E S'])('%s is neither', (body) => {
    expect(classifyReply(body)).toMatchObject({ possibleOptOut: false });
    expect(classifyReply(body).keyword).not.toBe('STOP');
  });
});
