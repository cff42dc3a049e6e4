import 'reflect-metadata';
import { ConfigError, env } from './config/env';
import { describeConfig } from './config/describe';
import { createLogger } from './config/logger';
import { DependencyUnavailableError } from './db/database';
import { startHerald, type Role } from './runtime/herald';

const ROLES: Role[] = ['all', 'api', 'worker'];

async function main() {
  const role = (process.argv[2] ?? 'all') as Role;
  if (!ROLES.includes(role)) {
    console.error(`Unknown role "${role}": use one of ${ROLES.join(', ')}`);
    process.exit(1);
  }
  let config;
  try {
    config = env();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  console.log(describeConfig(config, role));
  const logger = createLogger(config.server.logLevel);
  let herald;
  try {
    herald = await startHerald(config, role, { logger });
  } catch (error) {
    if (error instanceof DependencyUnavailableError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  if (herald.url)
    logger.info(
      `Herald ${role} listening on ${config.server.publicUrl} (GraphQL at /graphql, websockets on the same path)`,
    );
  else logger.info(`Herald ${role} started`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining: HTTP and websockets, then in-flight jobs, queues and the database');
    const force = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.server.shutdownTimeoutMs + 5_000);
    force.unref();
    herald
      .close()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
