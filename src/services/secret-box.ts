import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ConfigKeyring } from '../config/encryption-keys';

/**
 * AES-256-GCM through node:crypto (no primitive of our own). A ciphertext is one ASCII string:
 * `v1.<kid>.<iv>.<tag>.<ciphertext>`, the last three base64url: a 12-byte random IV (NIST SP 800-38D §8.2.2), the
 * 16-byte tag, the encrypted UTF-8. `aad` (additional authenticated data, not stored) binds the ciphertext to where it
 * lives — a channel config's id and tenant — so a ciphertext copied into another row or tenant fails to decrypt.
 */
const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The key a ciphertext needs is not configured, or it was tampered with or moved: nothing is revealed. */
export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

export class SecretBox {
  constructor(private readonly keyring: ConfigKeyring) {}

  /** Whether new ciphertexts can be written (CONFIG_ENCRYPTION_KEY is set). */
  get canEncrypt(): boolean {
    return this.keyring.current !== undefined;
  }

  /** The current key's id, or undefined without CONFIG_ENCRYPTION_KEY. */
  get currentKeyId(): string | undefined {
    return this.keyring.current?.id;
  }

  /**
   * The key id a ciphertext names when that key is not configured (rotated out of CONFIG_ENCRYPTION_KEY too early);
   * undefined when its key is here or it is not a v1 ciphertext.
   */
  missingKeyId(sealed: string): string | undefined {
    const kid = SecretBox.keyIdOf(sealed);
    return kid !== undefined && !this.keyring.byId.has(kid) ? kid : undefined;
  }

  /** Encrypts `plaintext` under the current key. Throws SecretBoxError without one. */
  seal(plaintext: string, aad: string): string {
    const current = this.keyring.current;
    if (!current) throw new SecretBoxError('CONFIG_ENCRYPTION_KEY is not set');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', current.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url'));
    return [VERSION, current.id, ...parts].join('.');
  }

  /** Decrypts with the key named in the ciphertext. Throws SecretBoxError for an unknown kid, a bad shape or tag. */
  open(sealed: string, aad: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new SecretBoxError('not a v1 ciphertext');
    const [, kid, iv, tag, body] = parts;
    const key = this.keyring.byId.get(kid);
    if (!key) throw new SecretBoxError(`key "${kid}" is not in CONFIG_ENCRYPTION_KEY`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new SecretBoxError(`ciphertext under key "${kid}" does not authenticate`);
    }
  }

  /** The kid a ciphertext was sealed with (undefined when it is not a v1 ciphertext). */
  static keyIdOf(sealed: string): string | undefined {
    const parts = sealed.split('.');
    return parts.length === 5 && parts[0] === VERSION ? parts[1] : undefined;
  }
}

/**
 * Whether two secrets are equal, in time that does not depend on where they differ: both are hashed (SHA-256) first,
 * so timingSafeEqual compares equal lengths and the length of neither leaks through an early return.
 */
export function sameSecret(a: string, b: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}
