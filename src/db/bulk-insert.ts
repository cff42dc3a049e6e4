import { ReferenceKind, type EntityClass } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
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
  if (rows.length === 0) return;
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
