import 'reflect-metadata';
import {
  getNamedType,
  GraphQLError,
  isInputObjectType,
  parse,
  validate,
  type GraphQLInputObjectType,
  type GraphQLSchema,
} from 'graphql';
import { Writable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/logger';
import { createFormatError } from '../../src/server/format-error';
import { checkQueryLimits } from '../../src/server/query-limits';
import { buildHeraldSchema } from '../../src/server/schema';
import {
  maskQuotedText,
  maskValuesInMessage,
  mayCarrySecrets,
  SECRET_MASK,
} from '../../src/server/secret-values';

/** Recognisable in any message, and a valid GraphQL name (so it could pass for a field or type name). */
const SECRET = 'Zq9SecretToken7f3a';
const LIMITS = { maxDepth: 20, maxAliases: 50, maxTokens: 5000, maxCost: 100_000 };
const CREATE = `mutation ($input: CreateChannelConfigInput!) { createChannelConfig(input: $input) { id } }`;
const UPDATE = `mutation ($id: ID!, $c: ChannelConfigCredentialsInput) { updateChannelConfig(id: $id, input: { credentials: $c }) { id } }`;
const base = { name: 'a', channel: 'SMS', provider: 'twilio-sms' };

let schema: GraphQLSchema;
beforeAll(async () => {
  schema = await buildHeraldSchema();
});

/** The coercion error the server gives (query-limits.ts computes the cost with the variables, before execution). */
function coercionError(query: string, variables: Record<string, unknown>): GraphQLError {
  const errors = checkQueryLimits(schema, LIMITS, { document: parse(query), variables });
  expect(errors).toHaveLength(1);
  return errors[0];
}

function validationErrors(query: string): readonly GraphQLError[] {
  const errors = validate(schema, parse(query));
  expect(errors.length).toBeGreaterThan(0);
  return errors;
}

function syntaxError(query: string): GraphQLError {
  try {
    parse(query);
  } catch (error) {
    return error as GraphQLError;
  }
  throw new Error('parsed');
}

describe('secret values in graphql-js error messages', () => {
  it.each([
    [
      'a wrong-typed secret',
      CREATE,
      { input: { ...base, credentials: { authToken: 12345678 } } },
      'at "input.credentials.authToken"; String cannot represent a non string value: ***',
      '12345678',
    ],
    [
      'an unknown field beside a secret (the whole object is quoted)',
      CREATE,
      { input: { ...base, credentials: { authToken: SECRET, bogus: 1 } } },
      'Variable "$input" got invalid value *** at "input.credentials"; Field "bogus" is not defined by type "ChannelConfigCredentialsInput".',
      SECRET,
    ],
    [
      'a required field missing (the whole input is quoted)',
      CREATE,
      { input: { channel: 'SMS', provider: 'twilio-sms', credentials: { apiKey: SECRET } } },
      'Variable "$input" got invalid value ***; Field "name" of required type "String!" was not provided.',
      SECRET,
    ],
    [
      'a secret given where an object belongs',
      CREATE,
      { input: { ...base, credentials: SECRET } },
      'at "input.credentials"; Expected type "ChannelConfigCredentialsInput" to be an object.',
      SECRET,
    ],
    [
      'a secret pasted into an Int field',
      CREATE,
      { input: { ...base, position: SECRET } },
      'at "input.position"; Int cannot represent non-integer value: ***',
      SECRET,
    ],
    [
      'a secret pasted into an enum field',
      CREATE,
      { input: { ...base, channel: SECRET } },
      'at "input.channel"; Value *** does not exist in "Channel" enum.',
      SECRET,
    ],
    [
      'a nested credentials variable',
      UPDATE,
      { id: '1', c: { privateKey: 42.5, secretAccessKey: SECRET } },
      'Variable "$c" got invalid value *** at "c.privateKey"; String cannot represent a non string value: ***',
      '42.5',
    ],
  ])('variables: %s', (_what, query, variables, kept, secret) => {
    const error = coercionError(query, variables);
    expect(error.message).toContain(secret);
    const masked = maskValuesInMessage(error);
    expect(masked).not.toContain(secret);
    expect(masked).toContain(kept);
  });

  it.each([
    [
      'a wrong-typed secret',
      `mutation { createChannelConfig(input: { name: "a", channel: SMS, provider: "p", credentials: { authToken: 98765432 } }) { id } }`,
      'String cannot represent a non string value: ***',
      '98765432',
    ],
    [
      'a string where the credentials object belongs',
      `mutation { createChannelConfig(input: { name: "a", channel: SMS, provider: "p", credentials: "${SECRET}" }) { id } }`,
      'Expected value of type "ChannelConfigCredentialsInput", found ***.',
      SECRET,
    ],
    [
      'an unquoted secret (an enum literal) named like a type',
      `mutation { createChannelConfig(input: { name: "a", channel: SMS, provider: "p", credentials: { apiKey: String } }) { id } }`,
      'String cannot represent a non string value: ***',
      'value: String',
    ],
    [
      'a secret in an enum field',
      `mutation { createChannelConfig(input: { name: "a", channel: ${SECRET}, provider: "p" }) { id } }`,
      'Value "***" does not exist in "Channel" enum.',
      SECRET,
    ],
  ])('inline literals: %s', (_what, query, kept, secret) => {
    expect(mayCarrySecrets(query)).toBe(true);
    const masked = validationErrors(query).map((error) => maskValuesInMessage(error));
    expect(masked.join('\n')).not.toContain(secret);
    expect(masked).toContain(kept);
  });

  it.each([
    [
      `mutation { createChannelConfig(input: { credentials: { authToken: "a" "${SECRET}" } }) { id } }`,
      'Syntax Error: Expected Name, found String ***.',
    ],
    [
      `mutation { createChannelConfig(input: { credentials: { authToken ${SECRET} } }) { id } }`,
      'Syntax Error: Expected ":", found Name ***.',
    ],
    [
      `mutation { createChannelConfig(input: { credentials: { authToken: "${SECRET}\\q" } }) { id } }`,
      'Syntax Error: Invalid character escape sequence: ***.',
    ],
  ])('syntax errors: %s', (query, expected) => {
    expect(maskValuesInMessage(syntaxError(query))).toBe(expected);
  });

  it('leaves messages that quote no value as they are (our own, naming the field)', () => {
    const ours = new GraphQLError('input.credentials.authToken: required for twilio-sms');
    expect(maskValuesInMessage(ours)).toBe(ours.message);
    const missing = coercionError(CREATE, {});
    expect(maskValuesInMessage(missing)).toBe(
      'Variable "$input" of required type "CreateChannelConfigInput!" was not provided.',
    );
  });

  it('a coercion message of an unexpected shape keeps the variable name only', () => {
    const odd = new GraphQLError(`Variable "$input" got invalid value "${SECRET}"; something new`);
    expect(maskValuesInMessage(odd)).toBe(`Variable "$input" got invalid value ${SECRET_MASK}`);
  });

  it('masks quoted segments of errors Herald did not word (log lines)', () => {
    expect(maskQuotedText(`invalid input syntax for type uuid: "${SECRET}" near 'x${SECRET}'`)).toBe(
      'invalid input syntax for type uuid: "***" near "***"',
    );
  });

  it("formatError's log line of an unexpected error about a credential document masks what it quotes", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const formatError = createFormatError(createLogger('debug', 'herald', sink));
    const failing = (query: string) => {
      const field = parse(query).definitions[0];
      return new GraphQLError('unexpected', {
        nodes: field,
        path: ['createChannelConfig'],
        originalError: new Error(`invalid input syntax for type uuid: "${SECRET}"`),
      });
    };
    const answer = formatError(failing(CREATE).toJSON(), failing(CREATE));
    expect(answer.message).toBe('Internal server error');
    expect(lines.join('')).toContain('internal error');
    expect(lines.join('')).toContain('invalid input syntax for type uuid: \\"***\\"');
    expect(lines.join('')).not.toContain(SECRET);
    // A document that cannot carry secrets is logged as before: the whole error, for whoever debugs it.
    const other = failing('query { providers { id } }');
    formatError(other.toJSON(), other);
    expect(lines.join('')).toContain(SECRET);
  });

  it('documents without channel-config secrets are not touched', () => {
    expect(
      mayCarrySecrets(
        'mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { notification { id } } }',
      ),
    ).toBe(false);
    expect(mayCarrySecrets(CREATE)).toBe(true);
    expect(mayCarrySecrets(UPDATE)).toBe(true);
  });

  it('every operation and input type that can reach a secret input field is recognised by name', () => {
    const secretFields = new Set(['credentials', 'authToken', 'apiKey', 'privateKey', 'secretAccessKey']);
    const inputs = Object.values(schema.getTypeMap()).filter(
      (type): type is GraphQLInputObjectType => isInputObjectType(type) && !type.name.startsWith('__'),
    );
    const reaches = (type: GraphQLInputObjectType, seen = new Set<string>()): boolean => {
      if (seen.has(type.name)) return false;
      seen.add(type.name);
      return Object.values(type.getFields()).some((field) => {
        const named = getNamedType(field.type);
        return secretFields.has(field.name) || (isInputObjectType(named) && reaches(named, seen));
      });
    };
    const carriers = inputs.filter((type) => reaches(type));
    expect(carriers.map((type) => type.name)).toContain('ChannelConfigCredentialsInput');
    for (const type of carriers) expect(mayCarrySecrets(type.name), type.name).toBe(true);
    const carrierNames = new Set(carriers.map((type) => type.name));
    for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
      for (const field of Object.values(root?.getFields() ?? {})) {
        if (field.args.some((arg) => carrierNames.has(getNamedType(arg.type).name)))
          expect(mayCarrySecrets(field.name), field.name).toBe(true);
      }
    }
  });
});
