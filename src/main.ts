import 'reflect-metadata';
import { ConfigError, env } from './config/env';
import { describeConfig } from './config/describe';
import { createLogger } from './config/logger';
import { DependencyUnavailableError } from './persistence/database';
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
  // A last net, not a fix: every promise and emitter that can fail is handled where it is made (a Redis outage must
  // cost a degraded /ready, never the process). One that slips through is a bug to fix at its source, logged loudly;
  // a rejection leaves no state half-changed, so the process serves on. An uncaught exception may have, so it exits.
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'BUG: unhandled promise rejection (the process stays up)');
  });
  process.on('uncaughtException', (error, origin) => {
    logger.fatal({ err: error, origin }, 'BUG: uncaught exception; exiting');
    process.exit(1);
  });
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
    logger.info(
      { signal },
      'draining: the scheduler and job intake stop, then HTTP, websockets and in-flight jobs, then queues and the database',
    );
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
