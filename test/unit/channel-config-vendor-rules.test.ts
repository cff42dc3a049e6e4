import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { normalizeAccount } from '../../src/services/channel-config-input';
import { checkFcmPrivateKey, refuseUnusedFields } from '../../src/services/channel-config-vendor-rules';

/** The field a BAD_USER_INPUT names, or 'accepted'. */
function fieldOf(run: () => unknown): string {
  try {
    run();
    return 'accepted';
  } catch (error) {
    const extensions = (error as { extensions?: { code?: string; field?: string } }).extensions;
    expect(extensions?.code).toBe('BAD_USER_INPUT');
    return extensions?.field ?? 'no field';
  }
}

const rsa = (bits: number) =>
  generateKeyPairSync('rsa', { modulusLength: bits })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
const RSA_2048 = rsa(2048);

const fcm = (projectId: string, clientEmail: string) => () =>
  normalizeAccount('fcm', { projectId }, { clientEmail }, { privateKey: RSA_2048 });
const ses = (accessKeyId: string) => () =>
  normalizeAccount(
    'ses',
    { fromEmail: 'news@tenant.example' },
    { accessKeyId, region: 'us-east-1' },
    { secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  );

describe('FCM project ids: Google Cloud "Project ID" rules (6–30, lowercase letters/digits/hyphens, starts with a letter, no trailing hyphen)', () => {
  it.each([
    // Google's own examples ("my-project-id", the Firebase docs' "my-project-1234"), and the limits.
    ['my-project-id', 'accepted'],
    ['my-project-1234', 'accepted'],
    ['herald-sandbox', 'accepted'],
    ['abcdef', 'accepted'],
    ['a'.repeat(30), 'accepted'],
    ['abcde', 'input.senders.projectId'],
    ['a'.repeat(31), 'input.senders.projectId'],
    ['1project', 'input.senders.projectId'],
    ['project-', 'input.senders.projectId'],
    ['My-Project', 'input.senders.projectId'],
    ['proj p/../x', 'input.senders.projectId'],
    ['my_project', 'input.senders.projectId'],
  ])('%s → %s', (projectId, field) => {
    expect(fieldOf(fcm(projectId, 'sender@my-project-id.iam.gserviceaccount.com'))).toBe(field);
  });

  it('clientEmail must be an email (a service account address)', () => {
    expect(
      fieldOf(fcm('my-project-id', 'firebase-adminsdk-abc12@my-project-id.iam.gserviceaccount.com')),
    ).toBe('accepted');
    expect(fieldOf(fcm('my-project-id', 'not an email'))).toBe('input.identifiers.clientEmail');
  });
});

describe('AWS access key ids: IAM AccessKey constraint (16–128 characters, [\\w]+)', () => {
  it.each([
    // AWS's documented example key ids (IAM user guide, "Managing access keys").
    ['AKIAIOSFODNN7EXAMPLE', 'accepted'],
    ['ASIAIOSFODNN7EXAMPLE', 'accepted'],
    ['A'.repeat(16), 'accepted'],
    ['A'.repeat(128), 'accepted'],
    ['x', 'input.identifiers.accessKeyId'],
    ['A'.repeat(15), 'input.identifiers.accessKeyId'],
    ['A'.repeat(129), 'input.identifiers.accessKeyId'],
    ['AKIA-OSFODNN7EXAMPLE', 'input.identifiers.accessKeyId'],
    ['AKIAIOSFODNN7EXAMPLE/x', 'input.identifiers.accessKeyId'],
  ])('%s → %s', (accessKeyId, field) => {
    expect(fieldOf(ses(accessKeyId))).toBe(field);
  });
});

describe('FCM private keys: unencrypted PKCS#8 PEM RSA of at least 2048 bits (Google service account keys)', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  const encrypted = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
    .toString();
  const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs1', format: 'pem' })
    .toString();

  it.each([
    ['RSA-2048 PKCS#8', RSA_2048, undefined],
    ['RSA-512', rsa(512), 'has 512 bits'],
    ['EC P-256', ec, 'the key is ec, not RSA'],
    ['encrypted PKCS#8', encrypted, 'the key is encrypted'],
    ['PKCS#1 (BEGIN RSA PRIVATE KEY)', pkcs1, 'not a PKCS#8 PEM private key'],
    [
      'garbage in a PEM frame',
      '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----',
      'does not parse',
    ],
  ])('%s', (_what, key, says) => {
    let message = 'accepted';
    try {
      checkFcmPrivateKey(key);
    } catch (error) {
      message = (error as Error).message;
      expect((error as { extensions?: { field?: string } }).extensions?.field).toBe(
        'input.credentials.privateKey',
      );
      // Names the field and the format; never OpenSSL's own text (error:1E08010C:DECODER routines::unsupported).
      expect(message).toMatch(/^input\.credentials\.privateKey: .*PKCS#8 PEM/);
      expect(message).not.toMatch(/error:[0-9A-F]{8}|routines/);
    }
    if (says) expect(message).toContain(says);
    else expect(message).toBe('accepted');
  });
});

describe('fields a provider does not use are refused, naming them', () => {
  it.each([
    ['ses', { credentials: { authToken: 'STRAYSECRET' } }, 'input.credentials.authToken'],
    ['ses', { identifiers: { accountSid: 'AC'.padEnd(34, '1') } }, 'input.identifiers.accountSid'],
    ['sns', { senders: { fromEmail: 'a@b.example' } }, 'input.senders.fromEmail'],
    ['fcm', { credentials: { secretAccessKey: 'x' } }, 'input.credentials.secretAccessKey'],
    ['twilio-sms', { senders: { projectId: 'my-project-id' } }, 'input.senders.projectId'],
    ['sendgrid', { identifiers: { region: 'us-east-1' } }, 'input.identifiers.region'],
    // Not given: null or blank.
    ['ses', { credentials: { authToken: null, apiKey: '  ' } }, 'accepted'],
    ['ses', { identifiers: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', region: 'us-east-1' } }, 'accepted'],
    ['sns', { senders: { fromNumber: '+14155550100' } }, 'accepted'],
  ] as const)('%s %j → %s', (provider, input, field) => {
    expect(fieldOf(() => refuseUnusedFields(provider, input))).toBe(field);
  });

  it('says which provider does not use it', () => {
    expect(() => refuseUnusedFields('ses', { credentials: { authToken: 'STRAYSECRET' } })).toThrow(
      /^input\.credentials\.authToken: not used by ses/,
    );
  });
});
