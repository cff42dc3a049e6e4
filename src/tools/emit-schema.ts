import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { printHeraldSchema } from '../server/schema';

/** npm run schema:emit — writes the subgraph SDL to schema.graphql at the repository root. */
async function emit() {
  const target = resolve(__dirname, '../../../schema.graphql');
  writeFileSync(target, await printHeraldSchema());
  console.log(`wrote ${target}`);
}

emit().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
