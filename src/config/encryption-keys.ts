/**
 * CONFIG_ENCRYPTION_KEY: the keys that encrypt channel-config credentials at rest (AES-256-GCM).
 *
 * Format: `<kid>:<base64 key>[,<kid>:<base64 key>…]`, e.g. `k2:9x…=,k1:Qm…=`. Each key is 32 random bytes in base64 or
 * base64url (`openssl rand -base64 32`); a kid is 1–32 of `A-Z a-z 0-9 _ -`. The FIRST key is current: it encrypts
 * everything written from now on. The others are read-only, kept so ciphertexts written under them still decrypt until
 * `npm run reencrypt-configs` has rewritten them with the current key; then they may be removed.
 */
export interface ConfigKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

export interface ConfigKeyring {
  /** Encrypts new ciphertexts; absent when CONFIG_ENCRYPTION_KEY is unset (channel configs cannot be stored). */
  current?: ConfigKey;
  /** Every key by id, the current one included. */
  byId: ReadonlyMap<string, Buffer>;
}

const KID = /^[A-Za-z0-9_-]{1,32}$/;

/** Parses CONFIG_ENCRYPTION_KEY; pushes each problem (never the key material) onto `problems`. */
export function parseConfigKeyring(value: string | undefined, problems: string[]): ConfigKeyring {
  const byId = new Map<string, Buffer>();
  if (value === undefined || value.trim() === '') return { byId };
  let current: ConfigKey | undefined;
  value.split(',').forEach((entry, index) => {
    const separator = entry.indexOf(':');
    const id = entry.slice(0, separator).trim();
    const material = entry.slice(separator + 1).trim();
    const where = `CONFIG_ENCRYPTION_KEY entry ${index + 1}`;
    if (separator < 0 || !KID.test(id)) {
      problems.push(`${where}: must be <kid>:<base64 key>, kid of 1-32 letters, digits, _ or -`);
      return;
    }
    if (byId.has(id)) {
      problems.push(`${where}: kid "${id}" appears twice`);
      return;
    }
    const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(material) ? Buffer.from(material, 'base64') : Buffer.alloc(0);
    if (key.length !== 32) {
      problems.push(`${where} ("${id}"): the key must be 32 bytes in base64 (openssl rand -base64 32)`);
      return;
    }
    byId.set(id, key);
    current ??= { id, key };
  });
  return { current, byId };
}
