import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // One graphql module instance: the ESM entry would be a second "realm" beside the CJS one the libraries load.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // Memory tests (slow-subscriber) collect garbage before they measure the heap.
    execArgv: ['--expose-gc'],
    server: { deps: { inline: [] } },
  },
});
