import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * Builds dist/ once per run: tests that need a separate Herald process (start:api) run the compiled code, as
 * `npm start` does (tsx would drop the decorator metadata type-graphql needs).
 */
export default function setup() {
  const root = resolve(__dirname, '../..');
  execFileSync(
    process.execPath,
    [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
}
