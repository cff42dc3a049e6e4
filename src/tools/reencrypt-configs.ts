import 'reflect-metadata';
import { ConfigError, env } from '../config/env';
import { createLogger } from '../config/logger';
import { openDatabase } from '../persistence/database';
import { reencryptChannelConfigs } from '../services/reencrypt-configs';
import { SecretBox } from '../services/secret-box';

/**
 * npm run reencrypt-configs [-- --batch 100] — after putting a new key first in CONFIG_ENCRYPTION_KEY (the old one
 * kept after it), rewrites every channel config's credentials with the new key, in batches. Safe to run again, and
 * beside running servers. Once it reports 0 rows left, the old key may be removed. Exit 1 on a configuration problem
 * or a ciphertext whose key is missing.
 */
async function run(): Promise<void> {
  const batchArg = process.argv.indexOf('--batch');
  const batchSize = batchArg > 0 ? Number(process.argv[batchArg + 1]) : 100;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error('--batch: a positive integer');
  const config = env();
  const logger = createLogger(config.server.logLevel);
  const box = new SecretBox(config.channelConfigs.keyring);
  const orm = await openDatabase(config.db.url, logger, { migrate: true });
  try {
    const rewritten = await reencryptChannelConfigs(orm, box, batchSize);
    console.log(`re-encrypted ${rewritten} channel config(s) with key "${box.currentKeyId}"`);
  } finally {
    await orm.close();
  }
}

run().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : (error as Error).message);
  process.exit(1);
});
