import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/logger';
import { execute, wsClient, type GraphQLResponse } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

const JWT_SECRET = 'secret-errors-test-secret-long-enough!!';
/** Recognisable anywhere, and a valid GraphQL name, so it can also be written unquoted. */
const SECRET = `Tok${randomBytes(12).toString('hex')}`;
const base = { name: 'leaky', channel: 'SMS', provider: 'twilio-sms' };
const CREATE = 'mutation ($input: CreateChannelConfigInput!) { createChannelConfig(input: $input) { id } }';
const UPDATE =
  'mutation ($id: ID!, $input: UpdateChannelConfigInput!) { updateChannelConfig(id: $id, input: $input) { id } }';
const inline = (credentials: string) =>
  `mutation { createChannelConfig(input: { name: "x", channel: SMS, provider: "twilio-sms", credentials: ${credentials} }) { id } }`;

/** Each request, and what its error must still say: the field (path) and the rule. */
const CASES: { what: string; query: string; variables?: Record<string, unknown>; says: string }[] = [
  {
    what: 'an unknown field beside a secret',
    query: CREATE,
    variables: { input: { ...base, credentials: { authToken: SECRET, authTokn: SECRET } } },
    says: 'at "input.credentials"; Field "authTokn" is not defined by type "ChannelConfigCredentialsInput"',
  },
  {
    what: 'a required field missing beside a secret',
    query: CREATE,
    variables: { input: { channel: 'SMS', provider: 'twilio-sms', credentials: { authToken: SECRET } } },
    says: 'Field "name" of required type "String!" was not provided',
  },
  {
    what: 'a secret where the credentials object belongs',
    query: UPDATE,
    variables: { id: '00000000-0000-4000-8000-000000000000', input: { credentials: SECRET } },
    says: 'at "input.credentials"; Expected type "ChannelConfigCredentialsInput" to be an object',
  },
  {
    what: 'a secret pasted into an Int field',
    query: CREATE,
    variables: { input: { ...base, position: SECRET, credentials: { authToken: SECRET } } },
    says: 'at "input.position"; Int cannot represent non-integer value',
  },
  {
    what: 'an inline secret of the wrong type (unquoted)',
    query: inline(`{ apiKey: ${SECRET} }`),
    says: 'String cannot represent a non string value',
  },
  {
    what: 'an inline secret where the credentials object belongs',
    query: inline(`"${SECRET}"`),
    says: 'Expected value of type "ChannelConfigCredentialsInput"',
  },
  {
    what: 'a syntax error at an inline secret',
    query: inline(`{ authToken: "a" "${SECRET}" }`),
    says: 'Syntax Error: Expected Name, found String',
  },
];

describe('GraphQL errors never echo channel-config secrets (HTTP and graphql-ws)', () => {
  let stack: TestStack;
  let bearer: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    stack = await startStack({
      extraEnv: {
        JWT_SECRET,
        CONFIG_ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}`,
        LOG_LEVEL: 'debug',
      },
      logger: createLogger('debug', 'herald', sink),
    });
    bearer = await new SignJWT({ tenant: 'acme', scope: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('acme-admin')
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(JWT_SECRET));
  });
  afterAll(() => stack?.close());

  /** The first answer graphql-ws gives an operation: a refusal before execution arrives as an error list. */
  const overWebsocket = async (query: string, variables?: Record<string, unknown>) => {
    const client = wsClient(stack.url, `Bearer ${bearer}`);
    try {
      return await new Promise<GraphQLResponse<unknown>>((resolve, reject) => {
        const unsubscribe = client.subscribe(
          { query, variables },
          {
            next: (value) => {
              unsubscribe();
              resolve(value as GraphQLResponse<unknown>);
            },
            error: (error) =>
              Array.isArray(error)
                ? resolve({ errors: error as NonNullable<GraphQLResponse<unknown>['errors']> })
                : reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
            complete: () => undefined,
          },
        );
      });
    } finally {
      await client.dispose();
    }
  };

  for (const transport of ['HTTP', 'graphql-ws'] as const) {
    it.each(CASES)(`${transport}: $what`, async ({ query, variables, says }) => {
      const answer =
        transport === 'HTTP'
          ? await execute<unknown, Record<string, unknown>>(stack.url, query, variables, bearer)
          : await overWebsocket(query, variables);
      expect(answer.errors?.length, JSON.stringify(answer)).toBeGreaterThan(0);
      expect(JSON.stringify(answer)).not.toContain(SECRET);
      expect(answer.errors!.map((error) => error.message).join('\n')).toContain(says);
      expect(answer.errors!.map((error) => error.message).join('\n')).toContain('***');
    });
  }

  it('no log line carries a secret', () => {
    // The cases above ran (debug level: every line Herald writes); the server wrote something about them.
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.filter((line) => line.includes(SECRET))).toEqual([]);
  });
});
