// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Folders that a folder may not import from: imports flow one way (ARCHITECTURE.md). */
const forbid = (...folders) =>
  folders.flatMap((folder) => [`**/${folder}/*`, `**/${folder}`, `../${folder}/*`, `../../${folder}/*`]);

const layer = (files, folders, message) => ({
  files,
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      { patterns: [{ group: forbid(...folders), message, allowTypeImports: false }] },
    ],
  },
});

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'test/support/generated/**', 'coverage/**', 'eslint.config.mjs'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-exports': ['error', { restrictDefaultExports: { direct: true, named: true } }],
      'no-process-env': 'error',
    },
  },
  // Decorator-based resolvers and entities need runtime class imports for metadata.
  {
    files: ['src/resolvers/**', 'src/entities/**'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  // Generated migrations, and files whose tool requires a default export.
  { files: ['src/migrations/Migration*.ts'], rules: { '@typescript-eslint/require-await': 'off' } },
  {
    files: ['src/db/mikro-orm.cli.ts', 'codegen.ts', 'vitest.config.mts', 'test/support/global-setup.ts'],
    rules: { 'no-restricted-exports': 'off' },
  },
  {
    files: ['src/config/env.ts', 'test/**', 'bench/**', 'scripts/**', 'codegen.ts', 'vitest*.mts'],
    rules: { 'no-process-env': 'off' },
  },
  layer(
    ['src/entities/**'],
    ['services', 'resolvers', 'providers', 'jobs', 'server', 'webhooks', 'pubsub', 'db'],
    'entities import nothing of ours but enums',
  ),
  layer(
    ['src/providers/**'],
    ['entities', 'services', 'resolvers', 'jobs', 'server', 'webhooks', 'db'],
    'providers know nothing of entities, services or GraphQL',
  ),
  layer(
    ['src/jobs/*.ts'],
    ['entities', 'services', 'resolvers', 'providers', 'server', 'webhooks', 'db', 'processors'],
    'jobs import nothing of ours but config',
  ),
  layer(
    ['src/services/**'],
    ['resolvers', 'server', 'webhooks', 'processors'],
    'services sit below resolvers, webhooks and processors',
  ),
  layer(
    ['src/resolvers/**', 'src/webhooks/**', 'src/jobs/processors/**'],
    ['db', 'providers'],
    'go through services',
  ),
  layer(
    ['src/config/**'],
    ['entities', 'services', 'resolvers', 'providers', 'jobs', 'server', 'webhooks', 'pubsub', 'db'],
    'config is the bottom layer',
  ),
);
