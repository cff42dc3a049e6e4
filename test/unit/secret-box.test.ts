import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseConfigKeyring } from '../../src/config/encryption-keys';
import { createLogger } from '../../src/config/logger';
import { SecretBox, SecretBoxError } from '../../src/services/secret-box';

const key = () => randomBytes(32).toString('base64');

describe('CONFIG_ENCRYPTION_KEY and the secret box (node:crypto AES-256-GCM)', () => {
  it('parses kid:key pairs, the first current; problems name the entry, never the key', () => {
    const [k1, k0] = [key(), key()];
    const problems: string[] = [];
    const ring = parseConfigKeyring(`k1:${k1}, k0:${k0}`, problems);
    expect(problems).toEqual([]);
    expect(ring.current?.id).toBe('k1');
    expect([...ring.byId.keys()]).toEqual(['k1', 'k0']);

    const short = randomBytes(16).toString('base64');
    const bad: string[] = [];
    parseConfigKeyring(`k1:${short},no-colon,k9:${k1},k9:${k1},bad kid:${k0}`, bad);
    expect(bad).toHaveLength(4);
    expect(bad.join('\n')).not.toContain(short);
    expect(bad.join('\n')).not.toContain(k0);
    expect(parseConfigKeyring('', []).current).toBeUndefined();
  });

  it('round-trips; each ciphertext carries its key id and a fresh IV', () => {
    const box = new SecretBox(parseConfigKeyring(`main:${key()}`, []));
    const a = box.seal('{"authToken":"t0p"}', 'row-1');
    const b = box.seal('{"authToken":"t0p"}', 'row-1');
    expect(a).toMatch(/^v1\.main\.[\w-]{16}\.[\w-]{22}\.[\w-]+$/);
    expect(a).not.toBe(b);
    expect(SecretBox.keyIdOf(a)).toBe('main');
    expect(box.open(a, 'row-1')).toBe('{"authToken":"t0p"}');
  });

  it('refuses another row’s AAD, a flipped byte, an unknown key id, and sealing without a key', () => {
    const k = key();
    const box = new SecretBox(parseConfigKeyring(`k1:${k}`, []));
    const sealed = box.seal('secret', 'row-1');
    expect(() => box.open(sealed, 'row-2')).toThrow(SecretBoxError);
    const parts = sealed.split('.');
    const body = Buffer.from(parts[4], 'base64url');
    body[0] ^= 1;
    parts[4] = body.toString('base64url');
    expect(() => box.open(parts.join('.'), 'row-1')).toThrow(SecretBoxError);
    expect(() => new SecretBox(parseConfigKeyring(`k2:${key()}`, [])).open(sealed, 'row-1')).toThrow(/"k1"/);
    expect(() => new SecretBox(parseConfigKeyring(undefined, [])).seal('x', 'row-1')).toThrow(SecretBoxError);
    // An old key kept after the current one still opens what it sealed.
    expect(new SecretBox(parseConfigKeyring(`k2:${key()},k1:${k}`, [])).open(sealed, 'row-1')).toBe('secret');
  });

  it('the logger writes "***" for secret keys at any depth up to four levels', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger('info', 'test', sink);
    logger.info(
      {
        authToken: 'L0',
        input: { credentials: { authToken: 'L2' }, apiKey: 'L1' },
        err: { config: { headers: { authorization: 'Basic L3' } } },
        row: { secretAccessKey: 'L1b', privateKey: 'L1c' },
      },
      'x',
    );
    const out = lines.join('');
    for (const secret of ['L0', 'L1', 'L2', 'Basic L3', 'L1b', 'L1c'])
      expect(out).not.toContain(`"${secret}"`);
    expect(out).toContain('"***"');
  });
});
