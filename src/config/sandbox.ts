/**
 * Fixed, documented sandbox credentials. In sandbox mode the real SDKs authenticate with these against Herald's
 * built-in provider emulator, and Herald's own webhook verification accepts what the sandbox signs with them.
 * They grant nothing anywhere else.
 */
export const SANDBOX = {
  twilio: {
    accountSid: 'AC00000000000000000000000000000000',
    authToken: 'herald-sandbox-twilio-auth-token',
    from: '+15005550006',
    whatsappFrom: 'whatsapp:+14155238886',
  },
  sendgrid: {
    apiKey: 'SG.herald-sandbox.sendgrid-api-key',
    from: 'herald@sandbox.herald.dev',
  },
  aws: {
    accessKeyId: 'AKIAHERALDSANDBOX000',
    secretAccessKey: 'herald-sandbox-aws-secret-access-key',
  },
  fcm: {
    projectId: 'herald-sandbox',
    accessToken: 'herald-sandbox-fcm-access-token',
  },
} as const;

/** Reserved sandbox addresses (CONTRACT.md "Sandbox mode"). */
export const SANDBOX_ADDRESSES = {
  rejectedPhone: '+15005550001',
  undeliveredPhone: '+15005550009',
  bounceEmail: 'bounce@sandbox.herald.dev',
  unregisteredTokenPrefix: 'unregistered-',
} as const;

/**
 * The sandbox SendGrid Event Webhook key pair (ECDSA P-256). The emulator signs its event callbacks with the private
 * key; Herald verifies them with the public key, exactly as with SendGrid's own key. Useless outside the sandbox.
 */
export const SANDBOX_SENDGRID_WEBHOOK_KEYS = {
  privateKeyPem: [
    '-----BEGIN PRIVATE KEY-----',
    'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRwXMuKLkP/I96ZZj',
    '9BLAJ6jIil1Y2ZvDAjiEFaKVSyKhRANCAARlVZOfaLjXYet93TY1+F7dt7w3lIKc',
    '+B2podMD2qVN/Grpmq+94bgGZGqJedZZwxajkL0wdhFIJK0xfZAg5VAC',
    '-----END PRIVATE KEY-----',
  ].join('\n'),
  publicKeyBase64:
    'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZVWTn2i412Hrfd02Nfhe3be8N5SCnPgdqaHTA9qlTfxq6ZqvveG4BmRqiXnWWcMWo5C9MHYRSCStMX2QIOVQAg==',
} as const;
