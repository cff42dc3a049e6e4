import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Keys whose values are secrets wherever they appear in a log object, up to three levels deep (a channel config's
 * credentials, a GraphQL input's `input.credentials.authToken`, an error's `config.headers.authorization`). pino
 * replaces them with `***`, the mask every response uses too.
 */
const SECRET_KEYS = [
  'authToken',
  'apiKey',
  'privateKey',
  'secretAccessKey',
  'credentials',
  'authorization',
  'password',
];
export const REDACTED_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`]);

/** @param destination where lines go (default stdout); tests pass a stream to read what was logged. */
export const createLogger = (level: string, name = 'herald', destination?: pino.DestinationStream): Logger =>
  destination
    ? pino({ name, level, redact: { paths: REDACTED_PATHS, censor: '***' } }, destination)
    : pino({ name, level, redact: { paths: REDACTED_PATHS, censor: '***' } });
