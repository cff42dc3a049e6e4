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
  // One concern per file (issue 14): no file under src/ over 350 lines but the generated migrations. The files still
  // listed in the exemption below are being split; the list only ever shrinks.
  {
    files: ['src/**/*.ts'],
    ignores: [
      'src/migrations/**',
      'src/config/env.ts',
      'src/providers/resilience/provider-circuit.ts',
      'src/sandbox/accounts.ts',
      'src/sandbox/emulator.ts',
      'src/server/query-limits.ts',
      'src/services/channel-config.service.ts',
      'src/services/consent.service.ts',
      'src/services/delivery-status.service.ts',
      'src/services/dispatch.service.ts',
      'src/services/notification.service.ts',
      'src/services/webhook-intake.service.ts',
    ],
    rules: { 'max-lines': ['error', { max: 350, skipBlankLines: false, skipComments: false }] },
  },
  // Decorator-based resolvers and entities need runtime class imports for metadata.
  {
    files: ['src/resolvers/**', 'src/entities/**'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  // Generated migrations, and files whose tool requires a default export.
  { files: ['src/migrations/Migration*.ts'], rules: { '@typescript-eslint/require-await': 'off' } },
  {
    files: [
      'src/persistence/mikro-orm.cli.ts',
      'codegen.ts',
      'vitest.config.mts',
      'test/support/global-setup.ts',
    ],
    rules: { 'no-restricted-exports': 'off' },
  },
  {
    files: ['src/config/env.ts', 'test/**', 'bench/**', 'scripts/**', 'codegen.ts', 'vitest*.mts'],
    rules: { 'no-process-env': 'off' },
  },
  layer(
    ['src/entities/**'],
    [
      'services',
      'resolvers',
      'providers',
      'jobs',
      'server',
      'webhooks',
      'pubsub',
      'persistence',
      'sandbox',
      'workers',
    ],
    'entities import nothing of ours but enums',
  ),
  layer(
    ['src/domain/**'],
    [
      'services',
      'resolvers',
      'providers',
      'jobs',
      'server',
      'webhooks',
      'pubsub',
      'persistence',
      'sandbox',
      'workers',
    ],
    "domain rules are pure: they import only entities' enums and types",
  ),
  layer(
    ['src/providers/**'],
    ['entities', 'services', 'resolvers', 'jobs', 'server', 'webhooks', 'persistence', 'sandbox', 'workers'],
    'providers know nothing of entities, services or GraphQL',
  ),
  layer(
    ['src/sandbox/**'],
    ['entities', 'services', 'resolvers', 'jobs', 'server', 'webhooks', 'persistence', 'workers', 'pubsub'],
    'the emulator stands in for the vendors: it knows nothing of Herald but vendor limits and the sandbox config',
  ),
  layer(
    ['src/jobs/**'],
    [
      'entities',
      'services',
      'resolvers',
      'providers',
      'server',
      'webhooks',
      'persistence',
      'workers',
      'sandbox',
    ],
    'jobs import nothing of ours but config',
  ),
  layer(
    ['src/persistence/**'],
    ['services', 'resolvers', 'server', 'webhooks', 'workers', 'providers', 'sandbox'],
    'persistence sits below services',
  ),
  layer(
    ['src/services/**'],
    ['resolvers', 'server', 'webhooks', 'workers', 'sandbox'],
    'services sit below resolvers, webhooks and workers',
  ),
  layer(
    ['src/resolvers/**', 'src/webhooks/**', 'src/workers/**'],
    ['persistence', 'providers', 'sandbox'],
    'go through services',
  ),
  layer(
    ['src/config/**'],
    // Not 'sandbox': config/sandbox.ts (the reserved sandbox addresses) would match it.
    [
      'entities',
      'services',
      'resolvers',
      'providers',
      'jobs',
      'server',
      'webhooks',
      'pubsub',
      'persistence',
      'domain',
      'workers',
    ],
    'config is the bottom layer',
  ),
);
