import 'reflect-metadata';
import { buildSubgraphSchema, printSubgraphSchema } from '@apollo/subgraph';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { parse, type GraphQLSchema } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { buildSchema, createResolversMap } from 'type-graphql';
import { referenceResolvers, RESOLVERS } from '../resolvers';
import { guardResolvers, type ResolversMap } from '../resolvers/scope-guard';
import { fieldsWithoutScopeRule } from '../resolvers/scopes';
import { User } from '../resolvers/types/user.type';
import { guardEntityRepresentations } from './entity-representations';

const FEDERATION_LINK = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable", "@external", "@requires", "@provides"])`;

/**
 * type-graphql insists on a PubSub when a schema has subscriptions, but each of ours supplies its own `subscribe`
 * (Redis-backed, tenant-scoped, see services/status-stream.ts), so topic-based use is refused loudly.
 */
const topicPubSubRefused = {
  publish: () => {
    throw new Error('topic-based subscriptions are not used in Herald; publish through StatusPubSub');
  },
  subscribe: () => {
    throw new Error(
      'topic-based subscriptions are not used in Herald; give the @Subscription a subscribe function',
    );
  },
};

/** type-graphql code first → Apollo Federation 2 subgraph schema (with reference resolvers merged in). */
export async function buildHeraldSchema(): Promise<GraphQLSchema> {
  const schema = await buildSchema({
    resolvers: RESOLVERS,
    // Reached only through the gateway (_entities), never from one of our root fields.
    orphanedTypes: [User],
    scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
    validate: false,
    skipCheck: true,
    pubSub: topicPubSubRefused,
  });
  // Deny by default: an operation added without a scope rule stops the build instead of shipping open.
  const unguarded = fieldsWithoutScopeRule(schema);
  if (unguarded.length > 0) {
    throw new Error(
      `no scope rule in OPERATION_SCOPES (src/resolvers/scopes.ts) for: ${unguarded.join(', ')}`,
    );
  }
  const resolvers = createResolversMap(schema) as ResolversMap;
  for (const [typeName, fields] of Object.entries(referenceResolvers)) {
    resolvers[typeName] = { ...resolvers[typeName], ...fields };
  }
  const subgraph = buildSubgraphSchema({
    typeDefs: parse(`${FEDERATION_LINK}\n${printSchemaWithDirectives(schema)}`),
    resolvers: guardResolvers(resolvers) as never,
  });
  guardEntityRepresentations(subgraph);
  return subgraph;
}

/** The subgraph SDL as the gateway sees it (committed as schema.graphql; a test fails on drift). */
export async function printHeraldSchema(): Promise<string> {
  return `${printSubgraphSchema(await buildHeraldSchema()).trim()}\n`;
}
