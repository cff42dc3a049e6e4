import type { EntityManager, Knex } from '@mikro-orm/postgresql';

/**
 * Runs one statement with its parameters bound (MikroORM's `Connection.execute` inlines them into the SQL text,
 * which for a large JSON payload costs more than the statement), inside the EntityManager's transaction when it has
 * one. Errors are MikroORM's own exceptions (UniqueConstraintViolationException, …), as a flush would throw.
 */
export async function runRaw<T>(em: EntityManager, sql: string, bindings: Knex.RawBinding[]): Promise<T[]> {
  try {
    const query = em.getConnection().getKnex().raw(sql, bindings);
    const trx = em.getTransactionContext<Knex.Transaction>();
    const result = (await (trx ? query.transacting(trx) : query)) as { rows?: T[] };
    return result.rows ?? [];
  } catch (error) {
    throw em.getDriver().convertException(error as Error);
  }
}
