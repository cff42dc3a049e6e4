import type { CodegenConfig } from '@graphql-codegen/cli';

/** Typed documents for the tests (and any TypeScript client) from the committed subgraph schema. */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['test/support/operations/*.graphql'],
  generates: {
    'test/support/generated/graphql.ts': {
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        scalars: { DateTime: 'string', JSON: 'unknown', _Any: 'unknown' },
        enumsAsTypes: true,
        avoidOptionals: false,
        useTypeImports: true,
      },
    },
  },
};

export default config;
