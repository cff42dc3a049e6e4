import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../persistence/database';
import type { SecretBox } from './secret-box';
import { SecretBoxError } from './secret-box';

/** The additional authenticated data a channel config's ciphertext is bound to (its id and tenant). */
export const channelConfigAad = (row: { id: string; tenantId: string }) =>
  `channel_config:${row.id}:${row.tenantId}`;

/**
 * Rewrites every channel-config ciphertext that is not under the current key with the current key, `batchSize` rows
 * per transaction, each batch locked FOR UPDATE SKIP LOCKED so concurrent runs and live updates never collide.
 * Idempotent: rows already under the current key are not read, so a second run rewrites nothing. `version` is not
 * bumped: the secrets did not change, so cached adapters stay valid.
 * @returns how many rows were rewritten.
 * @throws SecretBoxError when no key is current, or a row's key is not configured (nothing of that batch is written).
 */
export async function reencryptChannelConfigs(orm: Orm, box: SecretBox, batchSize = 100): Promise<number> {
  const kid = box.currentKeyId;
  if (!kid) throw new SecretBoxError('CONFIG_ENCRYPTION_KEY is not set');
  let total = 0;
  for (;;) {
    const em = orm.em.fork() as EntityManager;
    const rewritten = await em.transactional(async (tx) => {
      const connection = tx.getConnection();
      const rows = await connection.execute<{ id: string; tenant_id: string; credentials: string }[]>(
        // The key id compared exactly (as config-keys-check reads it): under LIKE, a `_` in a key id (allowed) matched
        // any character, so rotating k1 → k_ found nothing to rewrite.
        `select id, tenant_id, credentials from channel_config
          where split_part(credentials, '.', 1) <> 'v1' or split_part(credentials, '.', 2) <> ?
          order by id limit ? for update skip locked`,
        [kid, batchSize],
        'all',
        tx.getTransactionContext(),
      );
      for (const row of rows) {
        const aad = channelConfigAad({ id: row.id, tenantId: row.tenant_id });
        await connection.execute(
          'update channel_config set credentials = ? where id = ?',
          [box.seal(box.open(row.credentials, aad), aad), row.id],
          'run',
          tx.getTransactionContext(),
        );
      }
      return rows.length;
    });
    total += rewritten;
    if (rewritten < batchSize) return total;
  }
}
