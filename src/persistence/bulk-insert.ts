import { ReferenceKind, type EntityClass } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { runRaw } from './raw';

const quote = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;

/**
 * Inserts many entities of one class in one statement with one parameter (json_to_recordset), outside the unit of
 * work: on the accept path MikroORM's change-set computation cost more than PostgreSQL's insert. Every persisted
 * scalar property is written (undefined as NULL), so the entities must carry their values, as stage() gives them.
 */
export async function bulkInsert<T extends object>(
  em: EntityManager,
  entity: EntityClass<T>,
  rows: T[],
): Promise<void> {
  // In chunks: building and serialising 10,000 rows in one statement held the event loop for a quarter of a second;
  // between chunks other requests get a turn (the rows still go in the caller's one transaction).
  for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
    if (start > 0) await nextTurn();
    await insertChunk(em, entity, rows.slice(start, start + INSERT_CHUNK));
  }
}

/** Rows per insert statement. */
const INSERT_CHUNK = 2_000;

async function insertChunk<T extends object>(
  em: EntityManager,
  entity: EntityClass<T>,
  rows: T[],
): Promise<void> {
  const meta = em.getMetadata().get(entity.name);
  const props = meta.props.filter(
    // An autoincrement column (an identity) is left to PostgreSQL: it numbers the rows in insertion order.
    (p) => p.kind === ReferenceKind.SCALAR && p.persist !== false && !p.formula && !p.autoincrement,
  );
  const columns = props.map((p) => p.fieldNames[0]);
  const records = rows.map((row) => {
    const record: Record<string, unknown> = {};
    props.forEach((p, i) => {
      const value = (row as Record<string, unknown>)[p.name];
      record[columns[i]] = value === undefined ? null : value;
    });
    return record;
  });
  const list = columns.map(quote).join(', ');
  const shape = props.map((p, i) => `${quote(columns[i])} ${p.columnTypes[0]}`).join(', ');
  await runRaw(
    em,
    `insert into ${quote(meta.tableName)} (${list}) select ${list} from json_to_recordset(?::json) as r(${shape})`,
    [JSON.stringify(records)],
  );
}
