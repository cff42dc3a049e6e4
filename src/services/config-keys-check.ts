import type { EntityManager } from '@mikro-orm/postgresql';
import type { ConfigKeyring } from '../config/encryption-keys';

/**
 * The key ids channel-config ciphertexts were written under that CONFIG_ENCRYPTION_KEY does not hold. Non-empty means
 * those configs cannot be decrypted: their tenants' sends through them would fail. Production refuses to start then
 * (runtime/herald.ts); elsewhere it is a loud warning.
 */
export async function missingConfigKeys(em: EntityManager, keyring: ConfigKeyring): Promise<string[]> {
  const rows = await em
    .getConnection()
    .execute<{ kid: string }[]>(`select distinct split_part(credentials, '.', 2) as kid from channel_config`);
  return rows.map((row) => row.kid).filter((kid) => !keyring.byId.has(kid));
}
