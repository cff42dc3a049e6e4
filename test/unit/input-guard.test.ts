import { describe, expect, it } from 'vitest';
import { BadUserInputError } from '../../src/services/errors';
import { assertJson, assertStorable, sanitizeJson } from '../../src/services/input-guard';

const nested = (levels: number) => {
  let value: unknown = 'leaf\u0000';
  for (let i = 0; i < levels; i += 1) value = { k: value };
  return value;
};

describe('input guard', () => {
  it('a 100,000-level value is refused by depth without touching the stack', () => {
    expect(() => assertJson(nested(100_000), 'data')).toThrow(BadUserInputError);
    expect(() => assertJson(nested(100_000), 'data')).toThrow('data: nested deeper than 32 levels');
  });

  it('names the path of the first unstorable string or key', () => {
    expect(() => assertStorable({ content: { body: 'a\u0000' } }, '')).toThrow(
      'content.body: contains a NUL character (U+0000), which cannot be stored',
    );
    expect(() => assertStorable({ to: { deviceTokens: ['ok', '\udc00'] } }, '')).toThrow(
      'to.deviceTokens[1]: contains a lone UTF-16 surrogate',
    );
    expect(() => assertJson({ items: [{ 'bad key\u0000': 1 }] }, 'data')).toThrow(
      'data.items[0]: a key contains a NUL',
    );
    expect(() => assertStorable({ emoji: '\ud83d\ude00' }, '')).not.toThrow();
  });

  it('sanitizes a vendor payload of any depth: NUL and lone surrogates become U+FFFD, keys included', () => {
    const deep = sanitizeJson(nested(100_000));
    let leaf: unknown = deep;
    while (leaf && typeof leaf === 'object') leaf = (leaf as { k: unknown }).k;
    expect(leaf).toBe('leaf\ufffd');
    expect(sanitizeJson({ 'k\u0000': ['\ud800', 1, null, true] })).toEqual({
      'k\ufffd': ['\ufffd', 1, null, true],
    });
  });
});
