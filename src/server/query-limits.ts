import type { ApolloServerPlugin } from '@apollo/server';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import {
  getNamedType,
  getOperationAST,
  getNullableType,
  GraphQLError,
  isLeafType,
  isListType,
  Kind,
  OperationTypeNode,
  validate,
  type DocumentNode,
  type FieldNode,
  type GraphQLField,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';
import { QueryLimitError } from '../services/errors';
import { INPUT_LIMITS } from '../services/input-limits';
import { CHANNELS, LIST_LIMITS, MESSAGES_PER_NOTIFICATION } from '../services/list-limits';
import { MAX_PAGE } from '../services/query.service';
import { MAX_AUDIT_PAGE } from '../services/audit-query.service';

/** The limits of config.graphql (GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_ALIASES, GRAPHQL_MAX_TOKENS, GRAPHQL_MAX_COST). */
export interface QueryLimits {
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxCost: number;
}

/**
 * How many items a list field can return at most: a page argument (clamped to the largest page the API serves), the
 * length of a list argument, or a bound (`max`) that the resolver or the writes behind it enforce — `source` says
 * where. Never a guess: the cost is a worst case.
 */
export type ListSize =
  { page: string; default: number; max: number } | { countOf: string } | { max: number; source: string };

/**
 * Every list field of an object type, keyed `Type.field` (lists of scalars and enums too: they cost nothing, being
 * columns of a loaded row, but a test checks they have a bound as well). The schema is rebuilt from SDL by
 * buildSubgraphSchema, which drops field extensions, so the cost hints live here beside the limits. A unit test fails
 * when a list field of the schema has no row, so a new list is always bounded on purpose.
 */
export const LIST_SIZES: Readonly<Record<string, ListSize>> = {
  'Query.notifications': { page: 'first', default: 20, max: MAX_PAGE },
  'User.notifications': { page: 'first', default: 20, max: MAX_PAGE },
  'Query.auditLog': { page: 'first', default: 20, max: MAX_AUDIT_PAGE },
  'AuditLogConnection.nodes': { max: 1, source: 'counted at the connection (first)' },
  'AuditLogConnection.edges': { max: 1, source: 'counted at the connection (first)' },
  // The page size is counted once, at the connection's field.
  'NotificationConnection.nodes': { max: 1, source: 'counted at the connection (first)' },
  'NotificationConnection.edges': { max: 1, source: 'counted at the connection (first)' },
  // The gateway batches many entities in one fetch: each representation is priced like a root field.
  'Query._entities': { countOf: 'representations' },
  'Mutation.sendNotifications': { countOf: 'inputs' },
  'BatchSendPayload.results': { max: 1, source: 'counted at sendNotifications (one per input)' },
  'Notification.messages': {
    max: MESSAGES_PER_NOTIFICATION,
    source: 'accept: 100 push tokens/devices + topic + condition + one per other channel',
  },
  'Message.events': { max: LIST_LIMITS.eventsPerMessage.max, source: 'QueryService.eventsOfMany (newest)' },
  'User.devices': { max: LIST_LIMITS.devicesListed.max, source: 'ContactService.listDevices' },
  'User.consents': { max: LIST_LIMITS.consentsPerUser.max, source: 'types per tenant × channels' },
  'User.consentHistory': {
    max: LIST_LIMITS.consentHistoryListed.max,
    source: 'ConsentService.history (newest)',
  },
  'Mutation.grantConsent': { max: LIST_LIMITS.consentsPerChannel.max, source: 'known types + whole channel' },
  'Mutation.verifyConsent': {
    max: LIST_LIMITS.consentsPerChannel.max,
    source: 'known types + whole channel',
  },
  'Mutation.revokeConsent': {
    max: LIST_LIMITS.consentsPerChannel.max,
    source: 'known types + whole channel',
  },
  'NotificationPreferences.channels': { max: CHANNELS, source: 'one per channel' },
  'NotificationPreferences.types': {
    max: LIST_LIMITS.preferenceTypes.max,
    source: 'PreferencesService.update',
  },
  'Query.notificationTypes': { max: LIST_LIMITS.typesPerTenant.max, source: 'upsertNotificationType' },
  'NotificationType.templates': {
    max: LIST_LIMITS.templatesPerType.max,
    source: 'upsertNotificationType',
  },
  'NotificationType.defaultChannels': { max: CHANNELS, source: 'channels, deduplicated' },
  'NotificationType.fallbackChannels': { max: CHANNELS, source: 'channels, deduplicated' },
  'Notification.channels': { max: CHANNELS, source: 'channels, deduplicated' },
  'RenderedContent.mediaUrls': { max: INPUT_LIMITS.mediaUrls.max, source: 'INPUT_LIMITS.mediaUrls' },
  'Query.providers': { max: LIST_LIMITS.providers.max, source: 'the provider registry' },
  // A tenant's own accounts: capped at create (ChannelConfigService).
  'Query.channelConfigs': { max: LIST_LIMITS.channelConfigsPerTenant.max, source: 'createChannelConfig' },
  'ChannelConfigView.webhookUrls': { max: 3, source: 'status + inbound (Twilio) or events (SendGrid)' },
};

/** For a list that somehow has no row above (the schema test prevents it). */
const UNLISTED_LIST_SIZE = 10;

/** Lengths of the list variables operationCost left out of coercion, by variable name. */
type ListLengths = ReadonlyMap<string, number>;

function multiplier(
  key: string,
  field: GraphQLField<unknown, unknown>,
  args: Record<string, unknown>,
  node?: FieldNode,
  lengths: ListLengths = new Map(),
): number {
  const size = LIST_SIZES[key];
  if (!size) return isListType(getNullableType(field.type)) ? UNLISTED_LIST_SIZE : 1;
  if ('source' in size) return size.max;
  if ('countOf' in size) {
    // Given as a variable that operationCost did not coerce: its length as sent (coercion keeps a list's length).
    const value = node?.arguments?.find((a) => a.name.value === size.countOf)?.value;
    const given = value?.kind === Kind.VARIABLE ? lengths.get(value.name.value) : undefined;
    if (given !== undefined) return Math.max(given, 1);
    const items = args[size.countOf];
    return Array.isArray(items) ? Math.max(items.length, 1) : 1;
  }
  const requested = args[size.page];
  // Beyond the largest page the resolver refuses with its own, clearer error.
  return typeof requested === 'number' && requested > 0 ? Math.min(requested, size.max) : size.default;
}

const ROOT_TYPES = new Set(['Query', 'Mutation', 'Subscription']);

/**
 * Cost ≈ the objects an operation makes the server resolve. A field returning an object (or a root field, which runs
 * a resolver) costs `multiplier × (1 + cost of its selection)`, where the multiplier is 1, or the list size of
 * LIST_SIZES; a scalar or enum field of an already loaded object costs 0; introspection costs 0 (bounded by the
 * schema and by the depth and token limits).
 */
export const estimateCost: ComplexityEstimator = (options) => costWith(new Map())(options);

function costWith(lengths: ListLengths): ComplexityEstimator {
  return ({ type, field, args, node, childComplexity }) => {
    if (type.name.startsWith('__') || field.name.startsWith('__')) return 0;
    if (isLeafType(getNamedType(field.type)) && !ROOT_TYPES.has(type.name)) return 0;
    return multiplier(`${type.name}.${field.name}`, field, args, node, lengths) * (1 + childComplexity);
  };
}

/**
 * The variables to hand the cost visitor: a list of input objects (a batch's `inputs`, `_entities`'
 * `representations`) is passed as `[]` and its length kept apart. graphql-query-complexity coerces every variable
 * (getVariableValues) before it visits, and execution coerces them again: for a batch of 1,000 sends that second
 * coercion was a tenth of the accept's CPU (bench P2), and the cost needs only the list's length. An invalid list is
 * still refused, by execution's own coercion, after the cost check, which saw its full length.
 */
function lightVariables(
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown>,
): { variables: Record<string, unknown>; lengths: Map<string, number> } {
  const lengths = new Map<string, number>();
  const operation = getOperationAST(document, operationName);
  const light = { ...variables };
  for (const definition of operation?.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    const value = variables[name];
    const type = definition.type.kind === Kind.NON_NULL_TYPE ? definition.type.type : definition.type;
    const objects = Array.isArray(value) && value.every((item) => item !== null && typeof item === 'object');
    if (type.kind === Kind.LIST_TYPE && objects && value.length > 0) {
      lengths.set(name, value.length);
      light[name] = [];
    }
  }
  return { variables: light, lengths };
}

/** The estimated cost of one operation of a document (see estimateCost); throws GraphQLError on bad variables. */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables?: Record<string, unknown>,
  operationName?: string | null,
): number {
  const light = lightVariables(document, operationName, variables ?? {});
  return getComplexity({
    schema,
    query: document,
    variables: light.variables,
    operationName: operationName ?? undefined,
    estimators: [costWith(light.lengths)],
  });
}

/**
 * Checks a parsed, valid document against the depth, alias and cost limits before it runs. Returns the refusals
 * (`QueryLimitError`, code BAD_USER_INPUT, naming the limit and its value), empty when the document may run.
 * Depth and aliases: graphql-armor's rules (https://escape.tech/graphql-armor/docs/plugins/max-depth, …/max-aliases);
 * cost: graphql-query-complexity with the estimator above.
 */
export function checkQueryLimits(
  schema: GraphQLSchema,
  limits: QueryLimits,
  request: { document: DocumentNode; variables?: Record<string, unknown>; operationName?: string | null },
): GraphQLError[] {
  // The cost library assumes the operation exists (a TypeError otherwise): answer as graphql-js would, as bad input.
  if (!getOperationAST(request.document, request.operationName)) {
    const message = request.operationName
      ? `Unknown operation named "${request.operationName.slice(0, 100)}".`
      : 'Must provide operation name if query contains multiple operations.';
    return [new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', field: 'operationName' } })];
  }
  const known = checkedDocument(schema, limits, request.document);
  if (known.shape.length > 0) {
    return known.shape.map(({ message, limit, max }) => new QueryLimitError(message, { limit, max }));
  }

  const costKey = costKeyOf(request);
  let cost: number;
  try {
    cost =
      known.costs.get(costKey) ??
      operationCost(schema, request.document, request.variables, request.operationName);
    if (known.costs.size < COSTS_PER_DOCUMENT) known.costs.set(costKey, cost);
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
    // The library's own node budget (fragments spread many times over) is a cost refusal too.
    if (/maximum allowed number of nodes/.test(error.message)) {
      return [
        new QueryLimitError(`Query cost limit of ${limits.maxCost} exceeded (GRAPHQL_MAX_COST)`, {
          limit: 'GRAPHQL_MAX_COST',
          max: limits.maxCost,
        }),
      ];
    }
    // Variables that do not fit the operation: the same answer execution would give.
    // Its originalError keeps graphql-js's rule apart from the value it quotes, which secret-values.ts masks.
    return [
      new GraphQLError(error.message, {
        nodes: error.nodes,
        originalError: error,
        extensions: { code: 'BAD_USER_INPUT' },
      }),
    ];
  }
  if (cost > limits.maxCost) {
    return [
      new QueryLimitError(
        `Query cost limit of ${limits.maxCost} exceeded, estimated ${cost} (GRAPHQL_MAX_COST)`,
        { limit: 'GRAPHQL_MAX_COST', max: limits.maxCost, found: cost },
      ),
    ];
  }
  return [];
}

/** What checkQueryLimits keeps of a document it checked: its depth and alias refusals, and its costs by cost key. */
interface CheckedDocument {
  shape: { message: string; limit: string; max: number }[];
  costs: Map<string, number>;
}

/**
 * Per parsed document: Apollo Server keeps a parsed, validated document in its document store and hands the same
 * DocumentNode to every request that sends that query, so the depth and alias walk (a function of the document alone)
 * runs once per query text, not once per request: with the cost visitor it was the largest per-request cost a single
 * send added (bench P1). Documents parsed anew (graphql-ws) miss and are checked in full.
 */
const checkedDocuments = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, CheckedDocument>>();

/** Costs kept per document (one per distinct cost key; past this, costs are computed per request). */
const COSTS_PER_DOCUMENT = 64;

function checkedDocument(
  schema: GraphQLSchema,
  limits: QueryLimits,
  document: DocumentNode,
): CheckedDocument {
  let bySchema = checkedDocuments.get(schema);
  if (!bySchema) checkedDocuments.set(schema, (bySchema = new WeakMap()));
  const cached = bySchema.get(document);
  // The limits are the server's, fixed at start; a test may check one document under other limits.
  if (cached && cachedLimits.get(cached) === limits) return cached;
  const shape: CheckedDocument['shape'] = [];
  const refuse = (limit: string, max: number) => (_context: unknown, error: GraphQLError) => {
    // graphql-armor words it "Syntax Error: Query depth limit of 10 exceeded, found 12."
    const reason = error.message.replace(/^Syntax Error: /, '').replace(/\.$/, '');
    shape.push({ message: `${reason} (${limit})`, limit, max });
  };
  validate(schema, document, [
    maxDepthRule({
      n: limits.maxDepth,
      flattenFragments: true,
      propagateOnRejection: false,
      onReject: [refuse('GRAPHQL_MAX_DEPTH', limits.maxDepth)],
    }),
    maxAliasesRule({
      n: limits.maxAliases,
      propagateOnRejection: false,
      onReject: [refuse('GRAPHQL_MAX_ALIASES', limits.maxAliases)],
    }),
  ]);
  const checked: CheckedDocument = { shape, costs: new Map() };
  cachedLimits.set(checked, limits);
  bySchema.set(document, checked);
  return checked;
}

const cachedLimits = new WeakMap<CheckedDocument, QueryLimits>();

/**
 * What of a request's variables its cost can depend on: the estimator reads page sizes (numbers), list lengths and
 * @include/@skip flags (booleans); strings and input objects never change it. Two requests of one document with the
 * same key cost the same.
 */
function costKeyOf(request: { variables?: Record<string, unknown>; operationName?: string | null }): string {
  const relevant = Object.entries(request.variables ?? {}).map(([name, value]) =>
    typeof value === 'number' || typeof value === 'boolean'
      ? [name, value]
      : Array.isArray(value)
        ? [name, 'length', value.length]
        : [name],
  );
  return JSON.stringify([request.operationName ?? null, relevant]);
}

type FormatError = (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;

/**
 * Wraps formatError: graphql-js stops parsing past `maxTokens` with a syntax error (GRAPHQL_PARSE_FAILED), which is
 * answered as the limit refusal it is (BAD_USER_INPUT naming GRAPHQL_MAX_TOKENS); every other error passes through.
 */
export function withTokenLimitErrors(formatError: FormatError, limits: QueryLimits): FormatError {
  return (formatted, error) =>
    formatted.extensions?.code === 'GRAPHQL_PARSE_FAILED' &&
    /Document contains more th[ae]t? \d+ tokens/.test(formatted.message)
      ? {
          message: `Document token limit of ${limits.maxTokens} exceeded (GRAPHQL_MAX_TOKENS)`,
          extensions: { code: 'BAD_USER_INPUT', limit: 'GRAPHQL_MAX_TOKENS', max: limits.maxTokens },
        }
      : formatError(formatted, error);
}

const SUBSCRIPTION_OVER_HTTP = 'subscriptions are served over graphql-ws on /graphql';

/**
 * Apollo Server plugin: refuses, before execution, a document over the limits and a subscription sent over HTTP
 * (Apollo cannot stream it; graphql-ws serves it). Both answer 400 with code BAD_USER_INPUT.
 */
export function queryLimitsPlugin(schema: GraphQLSchema, limits: QueryLimits): ApolloServerPlugin {
  return {
    requestDidStart: () =>
      Promise.resolve({
        didResolveOperation: ({ document, operation, request, response }) => {
          const refusals: GraphQLError[] =
            operation?.operation === OperationTypeNode.SUBSCRIPTION
              ? [new GraphQLError(SUBSCRIPTION_OVER_HTTP, { extensions: { code: 'BAD_USER_INPUT' } })]
              : checkQueryLimits(schema, limits, {
                  document,
                  variables: request.variables,
                  operationName: operation?.name?.value ?? request.operationName,
                });
          if (refusals.length === 0) return Promise.resolve();
          response.http.status = 400;
          return Promise.reject(refusals[0]);
        },
      }),
  };
}
