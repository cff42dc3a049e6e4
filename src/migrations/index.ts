import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261122043752 } from './Migration20261122043752';
import { Migration20261122050851 } from './Migration20261122050851';
import { Migration20261122052646 } from './Migration20261122052646';
import { Migration20261122060000 } from './Migration20261122060000';
import { Migration20261122063500 } from './Migration20261122063500';
import { Migration20261122080000 } from './Migration20261122080000';
import { Migration20261122083000 } from './Migration20261122083000';
import { Migration20261201000000 } from './Migration20261201000000';
import { Migration20261210000000 } from './Migration20261210000000';
import { Migration20261212090000 } from './Migration20261212090000';
import { Migration20261220130000 } from './Migration20261220130000';
import { Migration20261220140000 } from './Migration20261220140000';
import { Migration20261221090000 } from './Migration20261221090000';
import { Migration20261221100000 } from './Migration20261221100000';
import { Migration20261222090000 } from './Migration20261222090000';
import { Migration20261222100000 } from './Migration20261222100000';

/** Every migration, in order. Listed explicitly so src (vitest) and dist (npm start) run the same set. */
export const MIGRATIONS: MigrationObject[] = [
  { name: 'Migration20261122043752', class: Migration20261122043752 },
  { name: 'Migration20261122050851', class: Migration20261122050851 },
  { name: 'Migration20261122052646', class: Migration20261122052646 },
  { name: 'Migration20261122060000', class: Migration20261122060000 },
  { name: 'Migration20261122063500', class: Migration20261122063500 },
  { name: 'Migration20261122080000', class: Migration20261122080000 },
  { name: 'Migration20261122083000', class: Migration20261122083000 },
  { name: 'Migration20261201000000', class: Migration20261201000000 },
  { name: 'Migration20261210000000', class: Migration20261210000000 },
  { name: 'Migration20261212090000', class: Migration20261212090000 },
  { name: 'Migration20261220130000', class: Migration20261220130000 },
  { name: 'Migration20261220140000', class: Migration20261220140000 },
  { name: 'Migration20261221090000', class: Migration20261221090000 },
  { name: 'Migration20261221100000', class: Migration20261221100000 },
  { name: 'Migration20261222090000', class: Migration20261222090000 },
  { name: 'Migration20261222100000', class: Migration20261222100000 },
];
