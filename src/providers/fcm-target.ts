/**
 * FCM's rules for where a message goes: a topic name and a topic condition. Herald checks them at accept
 * (services/address-validation.ts) and its emulator refuses what breaks them (sandbox/vendor-refusals.ts), so a
 * target FCM or firebase-admin would refuse is never accepted, retried or shown as sent in sandbox.
 */

/**
 * "Developers can choose any topic name that matches the regular expression: "[a-zA-Z0-9-_.~%]+""
 * (https://firebase.google.com/docs/cloud-messaging/android/topic-messaging, "Send topic messages"). firebase-admin
 * enforces the same before sending: `validateMessage` in firebase-admin/lib/messaging/messaging-internal.js (13.10.0)
 * drops a leading `/topics/`, then throws `messaging/invalid-payload` "Malformed topic name" unless the rest matches
 * `/^[a-zA-Z0-9-_.~%]+$/`. That function is not exported (the package's `exports` map hides lib/), so the rule is
 * copied here; test/integration/vendor-limits.test.ts holds both to the same table through the real SDK.
 */
export const FCM_TOPIC_NAME = /^[a-zA-Z0-9-_.~%]+$/;
/** The prefix FCM's legacy API required and firebase-admin still accepts and drops (messaging-internal.js). */
export const FCM_TOPIC_PREFIX = '/topics/';
/** "You can include up to five topics in your conditional expression." (same page, "Send to a condition"). */
export const FCM_CONDITION_MAX_TOPICS = 5;

/** The rule a topic name or condition broke, in words for an error message; or the accepted value. */
export type FcmTargetCheck = { value: string; topics: string[] } | { problem: string };

const NAME_SOURCE = FCM_TOPIC_NAME.source.slice(1, -1);
const TOPIC_RULE = `FCM topic names match ${NAME_SOURCE} (an optional ${FCM_TOPIC_PREFIX} prefix is dropped)`;

/**
 * A topic name as firebase-admin sends it: `/topics/` dropped, the rest matching FCM_TOPIC_NAME.
 * @returns the bare name (`/topics/news` → `news`) in `value` and `topics`, or the broken rule naming the first
 *   character FCM does not allow (1-based, in the name as given).
 */
export function checkFcmTopic(name: string): FcmTargetCheck {
  const prefixed = name.startsWith(FCM_TOPIC_PREFIX);
  const bare = prefixed ? name.slice(FCM_TOPIC_PREFIX.length) : name;
  if (FCM_TOPIC_NAME.test(bare)) return { value: bare, topics: [bare] };
  if (!bare) return { problem: `the name is empty; ${TOPIC_RULE}` };
  const at = [...bare].findIndex((c) => !FCM_TOPIC_NAME.test(c));
  const char = [...bare][at];
  const offset = prefixed ? FCM_TOPIC_PREFIX.length : 0;
  return { problem: `${JSON.stringify(char)} at character ${offset + at + 1} is not allowed; ${TOPIC_RULE}` };
}

type Token =
  | { kind: '(' | ')' | '!' | '&&' | '||' | 'end'; at: number }
  | { kind: 'topic'; name: string; at: number }
  | { kind: 'word'; word: string; at: number };

const CONDITION_RULE =
  `FCM conditions are 'topic' in topics terms joined by && and ||, negated with ! and grouped with parentheses, ` +
  `at most ${FCM_CONDITION_MAX_TOPICS} topics`;

/** A condition's tokens cannot be read: the message names the character. */
class UnreadableCondition extends Error {}

/** Splits a condition into tokens; throws UnreadableCondition at the first character no token starts with. */
function tokenize(condition: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < condition.length) {
    const c = condition[i];
    const at = i + 1;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '(' || c === ')' || c === '!') {
      tokens.push({ kind: c, at });
      i++;
    } else if ((c === '&' || c === '|') && condition[i + 1] === c) {
      tokens.push({ kind: c === '&' ? '&&' : '||', at });
      i += 2;
    } else if (c === "'") {
      const close = condition.indexOf("'", i + 1);
      if (close < 0) throw new UnreadableCondition(`the quote at character ${at} is never closed`);
      const name = condition.slice(i + 1, close);
      if (!FCM_TOPIC_NAME.test(name)) {
        throw new UnreadableCondition(
          `${JSON.stringify(name)} at character ${at} is not a topic name (names match ${NAME_SOURCE})`,
        );
      }
      tokens.push({ kind: 'topic', name, at });
      i = close + 1;
    } else if (/[a-z]/i.test(c)) {
      const word = /^[a-z]+/i.exec(condition.slice(i))![0];
      tokens.push({ kind: 'word', word, at });
      i += word.length;
    } else {
      throw new UnreadableCondition(
        c === '"'
          ? `the double quote at character ${at}: topic names are in single quotes ('news' in topics)`
          : `${JSON.stringify(c)} at character ${at} is not part of a condition`,
      );
    }
  }
  tokens.push({ kind: 'end', at: condition.length + 1 });
  return tokens;
}

const describe = (t: Token) =>
  t.kind === 'end'
    ? 'the end'
    : t.kind === 'topic'
      ? `'${t.name}' at character ${t.at}`
      : `${JSON.stringify(t.kind === 'word' ? t.word : t.kind)} at character ${t.at}`;

/**
 * An FCM topic condition, parsed by its grammar (https://firebase.google.com/docs/cloud-messaging/android/topic-messaging,
 * "Send to a condition": "'TopicA' in topics && ('TopicB' in topics || 'TopicC' in topics)"; "FCM first evaluates any
 * conditions in parentheses, and then evaluates the expression from left to right"; "You can include up to five topics
 * in your conditional expression". The operators are &&, || and ! — "Supported operators: &&, ||, !. Note the usage for
 * !: !('TopicA' in topics)", in the same guide's earlier revision and the v1 send guide):
 *
 *     condition = operand , { ( "&&" | "||" ) , operand } ;
 *     operand   = "!" , operand | "(" , condition , ")" | term ;
 *     term      = "'" , topic name , "'" , "in" , "topics" ;
 *
 * with whitespace allowed between tokens and each topic name held to FCM_TOPIC_NAME. && and || have one precedence
 * (left to right), so validity needs no precedence: the parser is the grammar's pushdown automaton, an expecting-operand
 * / expecting-operator state and a count of open parentheses, with no recursion, so a hostile 1 MB of "(" sent to the
 * emulator costs one pass and no stack. Topic terms are counted as written (`'a' in topics || 'a' in topics` is two).
 * @returns the condition as given and its topics in order, or the broken rule naming the token and its character
 *   position (1-based).
 */
export function checkFcmCondition(condition: string): FcmTargetCheck {
  let tokens: Token[];
  try {
    tokens = tokenize(condition);
  } catch (error) {
    if (!(error instanceof UnreadableCondition)) throw error;
    return { problem: `${error.message}; ${CONDITION_RULE}` };
  }
  const topics: string[] = [];
  let open = 0;
  let expectOperand = true;
  const refuse = (t: Token, expected: string): FcmTargetCheck => ({
    problem: `expected ${expected} but found ${describe(t)}; ${CONDITION_RULE}`,
  });
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (expectOperand) {
      if (t.kind === '!') continue;
      if (t.kind === '(') {
        open++;
        continue;
      }
      if (t.kind !== 'topic') return refuse(t, "'topic' in topics, ( or !");
      const [inWord, topicsWord] = [tokens[i + 1], tokens[i + 2]];
      if (inWord.kind !== 'word' || inWord.word !== 'in') return refuse(inWord, `"in" after '${t.name}'`);
      if (topicsWord.kind !== 'word' || topicsWord.word !== 'topics') {
        return refuse(topicsWord, `"topics" after '${t.name}' in`);
      }
      topics.push(t.name);
      if (topics.length > FCM_CONDITION_MAX_TOPICS) {
        return {
          problem: `'${t.name}' at character ${t.at} is topic ${topics.length}; ${CONDITION_RULE}`,
        };
      }
      i += 2;
      expectOperand = false;
    } else if (t.kind === '&&' || t.kind === '||') {
      expectOperand = true;
    } else if (t.kind === ')' && open > 0) {
      open--;
    } else if (t.kind === 'end' && open === 0) {
      return { value: condition, topics };
    } else {
      return refuse(t, open > 0 ? '&&, || or )' : '&&, || or the end');
    }
  }
  /* c8 ignore next: the token list always ends with `end`, which returns or refuses above. */
  return { problem: CONDITION_RULE };
}
