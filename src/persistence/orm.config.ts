import { ReflectMetadataProvider, type Options } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { ENTITIES } from '../entities';
import { MIGRATIONS } from '../migrations';

export const MIGRATIONS_TABLE = 'herald_migrations';

export function ormOptions(databaseUrl: string, poolMax = 20): Options<PostgreSqlDriver> {
  return {
    driver: PostgreSqlDriver,
    clientUrl: databaseUrl,
    entities: ENTITIES,
    metadataProvider: ReflectMetadataProvider,
    // Entities and migrations are listed explicitly: the same code runs from src (vitest) and dist (npm start).
    discovery: { disableDynamicFileAccess: true, warnWhenNoEntities: true },
    extensions: [Migrator],
    migrations: {
      tableName: MIGRATIONS_TABLE,
      migrationsList: MIGRATIONS,
      path: 'src/migrations',
      pathTs: 'src/migrations',
      emit: 'ts',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
    },
    pool: { min: 0, max: poolMax },
    // A batch of 1,000 sends is one multi-row insert per table (35 columns × 1,000 rows stays under PG's 65,535 parameters).
    batchSize: 1_000,
    forceUtcTimezone: true,
    allowGlobalContext: false,
    debug: false,
  };
}
