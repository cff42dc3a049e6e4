import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';

/**
 * The P1 ceiling: bare Apollo Server 5 on the same stack as Herald (express 5, @as-integrations/express5), answering
 * `{ __typename }`. Runs as its own process on PORT, like the Herald API it is compared with.
 */
async function main() {
  const server = new ApolloServer({ typeDefs: 'type Query { ok: Boolean }', resolvers: {} });
  await server.start();
  const app = express();
  app.use('/graphql', express.json(), expressMiddleware(server));
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.listen(Number(process.env.PORT));
}

void main();
