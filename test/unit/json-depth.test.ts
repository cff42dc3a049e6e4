import { describe, expect, it } from 'vitest';
import { exceedsJsonDepth, JsonTooDeepError, verifyJsonDepth } from '../../src/services/json-depth';

const nested = (depth: number, open = '[', close = ']') => open.repeat(depth) + close.repeat(depth);
const deepObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

describe('exceedsJsonDepth', () => {
  it.each([
    ['a scalar', '42', 0, false],
    ['an empty array at depth 1', '[]', 1, false],
    ['an empty array past depth 0', '[]', 0, true],
    ['arrays exactly at the limit', nested(64), 64, false],
    ['arrays one past the limit', nested(65), 64, true],
    ['objects exactly at the limit', deepObject(64), 64, false],
    ['objects one past the limit', deepObject(65), 64, true],
    ['mixed arrays and objects past the limit', '[{"a":[{"b":[1]}]}]', 4, true],
    ['siblings do not add up', '[[1],[2],[3],[4],[5]]', 2, false],
    ['brackets inside a string do not count', JSON.stringify({ q: '[[[[[[[[{{{{{{' }), 1, false],
    ['an escaped quote does not end the string', '{"q":"\\"[[[[[[[[[["}', 1, false],
    ['an escaped backslash before the closing quote ends it', '{"q":"\\\\","r":[[[1]]]}', 3, true],
    ['an escaped backslash then brackets outside the string count', '["\\\\"]' + '[[[', 2, true],
    ['unicode escapes are plain string content', '{"q":"\\u005b\\u005b\\u005b"}', 1, false],
    ['non-ASCII text around brackets', '{"ü":"€[[[","é":[["漢"]]}', 3, false],
    ['stray closers cannot buy depth', ']]]]]]]]' + nested(5), 4, true],
    ['a million nested arrays', nested(1_000_000), 64, true],
    [
      'a deep GraphQL variables envelope',
      JSON.stringify({ query: '{x}', variables: { a: 1 } }) + nested(70),
      64,
      true,
    ],
  ])('%s', (_name, text, max, expected) => {
    expect(exceedsJsonDepth(text, max)).toBe(expected);
    expect(exceedsJsonDepth(Buffer.from(text, 'utf8'), max)).toBe(expected);
  });

  it('agrees with JSON.parse on which text is string content: a string full of brackets parses to depth 1', () => {
    const text = JSON.stringify(['[{"\\"' + '['.repeat(1_000) + '\\\\"']);
    expect(exceedsJsonDepth(text, 1)).toBe(false);
    expect(JSON.parse(text)).toHaveLength(1);
  });
});

describe('verifyJsonDepth (express.json verify)', () => {
  const verify = verifyJsonDepth(8);
  const run =
    (text: string, encoding: string, bytes = Buffer.from(text, 'utf8')) =>
    () =>
      verify({} as never, {}, bytes, encoding);

  it.each([
    ['utf-8 within the limit', run(nested(8), 'utf-8'), undefined],
    ['utf-8 past the limit', run(nested(9), 'utf-8'), JsonTooDeepError],
    [
      'utf-16le is decoded before the scan',
      run('', 'utf-16le', Buffer.from(nested(9), 'utf16le')),
      JsonTooDeepError,
    ],
  ])('%s', (_name, call, error) => {
    if (error) expect(call).toThrow(error);
    else expect(call).not.toThrow();
  });

  it('a too-deep body carries status 400 and its own type for the JSON error handler', () => {
    try {
      run(nested(9), 'utf-8')();
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({
        status: 400,
        type: 'entity.too.deep',
        message: 'JSON nests deeper than 8 levels',
      });
    }
  });

  it('a charset TextDecoder does not know is refused with 415', () => {
    expect(run('[]', 'utf-32')).toThrow(expect.objectContaining({ status: 415 }) as Error);
  });
});
