import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/env';
import { createLogger } from '../../src/config/logger';
import { MIGRATIONS } from '../../src/migrations';
import { startHerald, type Herald } from '../../src/runtime/herald';
import { dropStack, isolatedEnv, type StackEnv } from '../support/stack';

describe('several processes starting together on a database that does not exist yet', () => {
  let env: StackEnv;
  const heralds: Herald[] = [];
  afterAll(async () => {
    await Promise.all(heralds.map((h) => h.close()));
    if (env) await dropStack(env);
  });

  it('create the database once and apply each migration once, under the advisory lock', async () => {
    env = isolatedEnv('http://127.0.0.1:9');
    const config = parseConfig(env.vars);
    const logger = createLogger('silent');
    heralds.push(...(await Promise.all([1, 2, 3].map(() => startHerald(config, 'worker', { logger })))));
    const client = new pg.Client({ connectionString: env.databaseUrl });
    await client.connect();
    const { rows } = await client.query<{ name: string }>('select name from herald_migrations order by id');
    await client.end();
    expect(rows.map((r) => r.name)).toEqual(MIGRATIONS.map((m) => m.name));
  });
});
