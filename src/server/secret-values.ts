import { Kind, print, type ASTNode, type GraphQLError, type ValueNode } from 'graphql';

/** What a masked value reads as: the mask every response and log line gives a secret. */
export const SECRET_MASK = '***';

/**
 * Names that a GraphQL document able to carry channel-config secrets must contain: the operations that take
 * credentials (`createChannelConfig`, `updateChannelConfig`), every input type around them (`CreateChannelConfigInput`,
 * `UpdateChannelConfigInput`, `ChannelConfigCredentialsInput`, which a variable must declare by name) and the secret
 * fields themselves (the keys src/config/logger.ts redacts). Field and type names cannot be aliased or escaped in
 * GraphQL, so a text without any of them cannot reach a credential input; a comment or string that merely mentions one
 * only makes Herald mask more. test/unit/secret-values.test.ts walks schema.graphql so a new secret input is not missed.
 */
const SECRET_CARRIER = /ChannelConfig|credentials|authToken|apiKey|privateKey|secretAccessKey/i;

/** Whether a GraphQL document's text may carry channel-config secrets (see SECRET_CARRIER). */
export function mayCarrySecrets(documentText: string): boolean {
  return SECRET_CARRIER.test(documentText);
}

/** The text of the document an error is about: its source (parse errors) or its nodes' (validation, coercion). */
export function documentTextOf(error: GraphQLError): string | undefined {
  return error.source?.body ?? error.nodes?.find((node) => node.loc)?.loc?.source.body;
}

/**
 * The message of a graphql-js error with every value the caller sent replaced by `***`, keeping what names the
 * problem: the variable, the path into it, the field, the type and the rule. graphql-js quotes the offending value in
 * three kinds of message, each handled from the error's own structure rather than by guessing at quotes:
 *
 * - variable coercion (`Variable "$input" got invalid value { authToken: "…" } at "input.position"; Int cannot
 *   represent non-integer value: "…"`): the inner rule is `originalError.message`, the value is what lies between
 *   `got invalid value ` and ` at "<path>"`, and the rule's own copy of it is masked too;
 * - validation of inline literals (`Expected value of type "ChannelConfigCredentialsInput", found "…".`,
 *   `String cannot represent a non string value: …`): the value is the printed form of the error's value nodes;
 * - syntax errors (`Syntax Error: Expected Name, found String "…".`, `Invalid character escape sequence: "…".`): the
 *   token's or the characters' text.
 *
 * Any other message is returned unchanged. A variable coercion message that does not have the expected shape keeps
 * only the variable's name: losing the rule is better than echoing a secret.
 */
export function maskValuesInMessage(error: GraphQLError): string {
  const message = error.message;
  if (VARIABLE_COERCION.test(message)) return maskVariableCoercion(message, ruleOf(error));
  if (message.startsWith('Syntax Error: ')) return maskSyntaxError(message);
  const printed = (error.nodes ?? []).filter(isValueNode).map((node) => print(node));
  return printed.length > 0 ? maskOccurrences(message, printed) : message;
}

/** `Variable "$name" got invalid value ` as graphql-js's getVariableValues words it (execution/values.js). */
const VARIABLE_COERCION = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)" got invalid value /;

/**
 * The rule of a variable coercion error: graphql-js keeps coerceInputValue's error as `originalError`; a wrapper (ours
 * in query-limits.ts, Apollo's) may sit in between.
 */
function ruleOf(error: GraphQLError): string | undefined {
  for (
    let inner = error.originalError;
    inner;
    inner = (inner as Partial<GraphQLError>).originalError ?? undefined
  ) {
    if (error.message.endsWith(`; ${inner.message}`)) return inner.message;
  }
  return undefined;
}

function maskVariableCoercion(message: string, rule: string | undefined): string {
  const [head, name] = VARIABLE_COERCION.exec(message)!;
  if (!rule) return `${head}${SECRET_MASK}`;
  const described = message.slice(head.length, message.length - rule.length - 2);
  // The path names the variable then fields and indices only (printPathArray), so its last ` at "<name>` starts it.
  const at = described.lastIndexOf(` at "${name}`);
  const path = at >= 0 && PATH.test(described.slice(at)) ? described.slice(at) : '';
  const value = path ? described.slice(0, at) : described;
  return `${head}${SECRET_MASK}${path}; ${maskOccurrences(rule, rawForms(value))}`;
}

/** ` at "input.credentials[0].authToken"` (graphql-js printPathArray after the variable's name). */
const PATH = /^ at "[_A-Za-z][_0-9A-Za-z]*(?:\.[_A-Za-z][_0-9A-Za-z]*|\[\d+\])*"$/;

/**
 * The forms a value takes in a scalar's rule: as graphql-js inspect printed it (`"abc"`, `12`, `{ a: 1 }`) and, for
 * a string, its raw text (an enum's `Value "abc" does not exist`).
 */
function rawForms(inspected: string): string[] {
  const forms = [inspected];
  if (inspected.startsWith('"')) {
    try {
      const raw: unknown = JSON.parse(inspected);
      if (typeof raw === 'string' && raw !== '') forms.push(raw);
    } catch {
      // not a JSON string: the inspected form is enough
    }
  }
  return forms;
}

/**
 * Syntax errors name the unexpected token with its text (graphql-js getTokenDesc: `Name "x"`, `String "x"`), up to
 * the message's final period; the kind and position stay.
 */
const TOKEN_TEXT =
  /^(Syntax Error: (?:Expected .+?, found|Unexpected) (?:Name|Int|Float|String|BlockString)) ".*"\.$/s;

/** The lexer's refusals quote the characters at fault at the end (`Unexpected character: "…".`). */
const LEXER_TEXT = /: ".*"\.$/s;

function maskSyntaxError(message: string): string {
  return message.replace(TOKEN_TEXT, `$1 ${SECRET_MASK}.`).replace(LEXER_TEXT, `: ${SECRET_MASK}.`);
}

/**
 * Replaces each occurrence of a value where graphql-js puts one: after `: ` or `found ` or `value ` (`…value: X`,
 * `found X`, `got invalid value X`), or between `Value "` and `"` (an enum's refusal). Elsewhere the same text is a
 * name (a type called like the value) and stays. Longest values first, so a value inside another goes with it.
 */
function maskOccurrences(message: string, values: string[]): string {
  let masked = message;
  for (const value of [...new Set(values)].sort((a, b) => b.length - a.length)) {
    let from = 0;
    for (;;) {
      const index = masked.indexOf(value, from);
      if (index < 0) break;
      const before = masked.slice(0, index);
      if (
        /(?:: |found |value )$/i.test(before) ||
        (before.endsWith('Value "') && masked[index + value.length] === '"')
      ) {
        masked = `${before}${SECRET_MASK}${masked.slice(index + value.length)}`;
        from = index + SECRET_MASK.length;
      } else {
        from = index + value.length;
      }
    }
  }
  return masked;
}

const VALUE_KINDS = new Set<string>([
  Kind.VARIABLE,
  Kind.INT,
  Kind.FLOAT,
  Kind.STRING,
  Kind.BOOLEAN,
  Kind.NULL,
  Kind.ENUM,
  Kind.LIST,
  Kind.OBJECT,
]);

function isValueNode(node: ASTNode): node is ValueNode {
  return VALUE_KINDS.has(node.kind) && node.kind !== Kind.VARIABLE;
}

/**
 * Any error's text with every quoted segment (`"…"`, `'…'`) masked: for log lines
 * of errors Herald did not word itself (a dependency's, a bug's) about a document that may carry secrets, where the
 * position of a value is unknown. The error's kind and the words around the values stay.
 */
export function maskQuotedText(text: string): string {
  return text.replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, `"${SECRET_MASK}"`);
}
