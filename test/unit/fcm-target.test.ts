import { describe, expect, it } from 'vitest';
import { checkFcmCondition, checkFcmTopic, FCM_CONDITION_MAX_TOPICS } from '../../src/providers/fcm-target';
import { normalizeFcmCondition, normalizeFcmTopic } from '../../src/services/address-validation';

const problem = (check: ReturnType<typeof checkFcmTopic>) => ('problem' in check ? check.problem : undefined);

/** FCM's topic and condition rules with the sources' examples (src/providers/fcm-target.ts cites each). */
describe('FCM topic names: [a-zA-Z0-9-_.~%]+, /topics/ dropped (Firebase guide; firebase-admin validateMessage)', () => {
  it.each([
    // The guide's and firebase-admin's own examples, then every class of character the pattern names.
    ['weather', 'weather'],
    ['news', 'news'],
    ['foo-bar', 'foo-bar'],
    ['industry-tech', 'industry-tech'],
    ['stock-GOOG', 'stock-GOOG'],
    ['/topics/news', 'news'],
    ['A-Z_a.z~0%9', 'A-Z_a.z~0%9'],
    ['%20', '%20'],
  ])('%j is accepted as %j', (name, value) => {
    expect(checkFcmTopic(name)).toEqual({ value, topics: [value] });
  });

  it.each([
    ['a b/c', '" " at character 2'],
    ['news/sport', '"/" at character 5'],
    ['/topics/a b', '" " at character 10'],
    ['topics/news', '"/" at character 7'],
    ['café', '"é" at character 4'],
    ['😀', '"😀" at character 1'],
    ["it's", `"'" at character 3`],
    ['a+b', '"+" at character 2'],
    ['/topics/', 'the name is empty'],
    ['', 'the name is empty'],
  ])('%j is refused: %s', (name, where) => {
    expect(problem(checkFcmTopic(name))).toMatch(where);
    expect(problem(checkFcmTopic(name))).toContain('FCM topic names match [a-zA-Z0-9-_.~%]+');
  });

  it('BAD_USER_INPUT names the field, the value and the rule (the break round’s "a b/c")', () => {
    expect(() => normalizeFcmTopic('a b/c', 'to.topic')).toThrow(
      'to.topic: "a b/c" is not a valid FCM topic name: " " at character 2 is not allowed; FCM topic names match [a-zA-Z0-9-_.~%]+ (an optional /topics/ prefix is dropped)',
    );
    let thrown: unknown;
    try {
      normalizeFcmTopic('a b', 'to.topic');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'to.topic' } });
    expect(normalizeFcmTopic(' /topics/news ', 'to.topic')).toBe('news');
  });
});

describe('FCM conditions: up to 5 topics, &&, ||, ! and parentheses (Firebase guide)', () => {
  const five = ['a', 'b', 'c', 'd', 'e'].map((t) => `'${t}' in topics`).join(' || ');
  it.each([
    // The guide's examples.
    ["'TopicA' in topics && ('TopicB' in topics || 'TopicC' in topics)", ['TopicA', 'TopicB', 'TopicC']],
    ["'stock-GOOG' in topics || 'industry-tech' in topics", ['stock-GOOG', 'industry-tech']],
    ["!('TopicA' in topics)", ['TopicA']],
    // The v1 reference's example (Message.condition) and firebase-admin's test fixture form.
    ["'foo' in topics && 'bar' in topics", ['foo', 'bar']],
    [five, ['a', 'b', 'c', 'd', 'e']],
    ["(('a' in topics))", ['a']],
    ["!!'a' in topics&&!('b' in topics)", ['a', 'b']],
    ["'a' in topics\n\t&&  'b'   in   topics", ['a', 'b']],
    ["'a%2Fb' in topics", ['a%2Fb']],
  ])('%j is accepted with topics %j', (condition, topics) => {
    expect(checkFcmCondition(condition)).toEqual({ value: condition, topics });
  });

  it.each([
    // The break round's two: six topics, and SQL.
    [`${five} || 'f' in topics`, `'f' at character 86 is topic 6`],
    ['drop table', `expected 'topic' in topics, ( or ! but found "drop" at character 1`],
    ["'a' in topics &&", "expected 'topic' in topics, ( or ! but found the end"],
    ["('a' in topics", 'expected &&, || or ) but found the end'],
    ["'a' in topics)", 'expected &&, || or the end but found ")" at character 14'],
    ["()'a' in topics", `expected 'topic' in topics, ( or ! but found ")" at character 2`],
    ["'a' in topics 'b' in topics", `expected &&, || or the end but found 'b' at character 15`],
    ["'a' in topics & 'b' in topics", '"&" at character 15 is not part of a condition'],
    ["'a' in topics and 'b' in topics", 'expected &&, || or the end but found "and" at character 15'],
    ["'a' in Topics", 'expected "topics" after \'a\' in but found "Topics" at character 8'],
    ["'a' topics", 'expected "in" after \'a\' but found "topics" at character 5'],
    ["'a' intopics", 'expected "in" after \'a\' but found "intopics"'],
    ["'a b' in topics", '"a b" at character 1 is not a topic name'],
    ["'/topics/a' in topics", '"/topics/a" at character 1 is not a topic name'],
    ["'' in topics", '"" at character 1 is not a topic name'],
    ['"a" in topics', 'the double quote at character 1: topic names are in single quotes'],
    ["'a in topics", 'the quote at character 1 is never closed'],
    ["'a' in topics; drop table", '";" at character 14 is not part of a condition'],
    ['a', `expected 'topic' in topics, ( or ! but found "a" at character 1`],
    ["'a' in topics !", 'expected &&, || or the end but found "!" at character 15'],
  ])('%j is refused: %s', (condition, where) => {
    const checked = checkFcmCondition(condition);
    expect('problem' in checked && checked.problem).toContain(where);
    expect('problem' in checked && checked.problem).toContain(`at most ${FCM_CONDITION_MAX_TOPICS} topics`);
  });

  it('deep nesting is one pass without recursion: 1 MB of "(" is refused, 10,000 levels around a term accepted', () => {
    expect(checkFcmCondition('('.repeat(1_000_000))).toHaveProperty('problem');
    const deep = `${'('.repeat(10_000)}'a' in topics${')'.repeat(10_000)}`;
    expect(checkFcmCondition(deep)).toEqual({ value: deep, topics: ['a'] });
  });

  it('BAD_USER_INPUT names the field, the value and the rule', () => {
    expect(() => normalizeFcmCondition('drop table', 'to.condition')).toThrow(
      `to.condition: "drop table" is not a valid FCM condition: expected 'topic' in topics, ( or ! but found "drop" at character 1; FCM conditions are 'topic' in topics terms joined by && and ||, negated with ! and grouped with parentheses, at most 5 topics`,
    );
    expect(normalizeFcmCondition("  'a' in topics ", 'to.condition')).toBe("'a' in topics");
  });
});
