import { createPrivateKey } from 'node:crypto';
import type {
  ChannelConfigIdentifiers,
  ChannelConfigProvider,
  ChannelConfigSecrets,
  ChannelConfigSenders,
} from '../entities';
import { normalizeEmail } from './address-validation';
import { BadUserInputError } from './errors';

/**
 * The fields each provider's adapter reads (tenant-adapter.ts, account-check.ts). Anything else given for a provider
 * is refused rather than stored: an SES config carrying a Twilio auth token would keep a secret nobody uses, shown
 * back as `***` as if it mattered (break round 13b, F3). SNS keeps `fromNumber`: it is the tenant's own record of its
 * origination number (SNS picks the number itself), as documented for the input.
 */
export const PROVIDER_FIELDS: Record<
  ChannelConfigProvider,
  {
    senders: readonly (keyof ChannelConfigSenders)[];
    identifiers: readonly (keyof ChannelConfigIdentifiers)[];
    credentials: readonly (keyof ChannelConfigSecrets)[];
  }
> = {
  'twilio-sms': {
    senders: ['fromNumber', 'messagingServiceSid'],
    identifiers: ['accountSid'],
    credentials: ['authToken'],
  },
  'twilio-whatsapp': { senders: ['whatsappFrom'], identifiers: ['accountSid'], credentials: ['authToken'] },
  sendgrid: { senders: ['fromEmail'], identifiers: ['webhookPublicKey'], credentials: ['apiKey'] },
  ses: { senders: ['fromEmail'], identifiers: ['accessKeyId', 'region'], credentials: ['secretAccessKey'] },
  sns: { senders: ['fromNumber'], identifiers: ['accessKeyId', 'region'], credentials: ['secretAccessKey'] },
  fcm: { senders: ['projectId'], identifiers: ['clientEmail'], credentials: ['privateKey'] },
};

const given = (value: unknown) => typeof value === 'string' && value.trim() !== '';

/**
 * Refuses a field the provider does not use: BAD_USER_INPUT `input.credentials.authToken: not used by ses`. Only
 * fields given a value count (null or blank is "not given", as everywhere in the input).
 */
export function refuseUnusedFields(
  provider: ChannelConfigProvider,
  input: {
    senders?: object | null;
    identifiers?: object | null;
    credentials?: object | null;
  },
): void {
  const fields = PROVIDER_FIELDS[provider];
  for (const group of ['senders', 'identifiers', 'credentials'] as const) {
    const allowed = fields[group] as readonly string[];
    for (const [field, value] of Object.entries(input[group] ?? {})) {
      if (given(value) && !allowed.includes(field))
        throw new BadUserInputError(
          `input.${group}.${field}: not used by ${provider} (it uses ${allowed.join(', ') || 'none'})`,
          `input.${group}.${field}`,
        );
    }
  }
}

/**
 * Google Cloud project ids: "6 to 30 characters", "lowercase ASCII letters, digits, or hyphens", "must start with a
 * letter", "cannot end with a hyphen" (https://cloud.google.com/resource-manager/docs/creating-managing-projects,
 * "Project ID"). The id is a path segment of FCM's `projects/{id}/messages:send`.
 */
export const GOOGLE_PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

/**
 * AWS access key ids: "Length Constraints: Minimum length of 16. Maximum length of 128. Pattern: [\w]+"
 * (IAM API reference, AccessKey, https://docs.aws.amazon.com/IAM/latest/APIReference/API_AccessKey.html). Real ones
 * are 20 characters, AKIA… (long-term) or ASIA… (temporary), but the documented constraint is what is enforced.
 */
export const AWS_ACCESS_KEY_ID = /^\w{16,128}$/;

/** Google signs service account assertions with RS256; its service account keys are RSA-2048. */
export const MIN_RSA_BITS = 2048;

/**
 * The FCM and AWS identifiers by their vendors' documented rules; BAD_USER_INPUT naming the field otherwise.
 * Normalises `identifiers.clientEmail` in place (as address-validation.ts keeps addresses).
 */
export function checkVendorIdentifiers(
  provider: ChannelConfigProvider,
  senders: ChannelConfigSenders,
  identifiers: ChannelConfigIdentifiers,
): void {
  if (provider === 'fcm') {
    const projectId = senders.projectId ?? '';
    if (!GOOGLE_PROJECT_ID.test(projectId))
      throw new BadUserInputError(
        'input.senders.projectId: must be a Google Cloud project id: 6 to 30 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen',
        'input.senders.projectId',
      );
    if (identifiers.clientEmail)
      identifiers.clientEmail = normalizeEmail(identifiers.clientEmail, 'input.identifiers.clientEmail');
  }
  if ((provider === 'ses' || provider === 'sns') && !AWS_ACCESS_KEY_ID.test(identifiers.accessKeyId ?? ''))
    throw new BadUserInputError(
      'input.identifiers.accessKeyId: must be an AWS access key id: 16 to 128 letters, digits or underscores (such as AKIAIOSFODNN7EXAMPLE)',
      'input.identifiers.accessKeyId',
    );
}

/**
 * The FCM service account private key as Google issues it (the `private_key` of the JSON key file): an unencrypted
 * PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) RSA key of at least 2048 bits. Checked only when given (a stored key is
 * `***` here). The error names the field and the expected format, never OpenSSL's text nor the key.
 */
export function checkFcmPrivateKey(privateKey: string | undefined): void {
  if (privateKey === undefined) return;
  const refuse = (why: string): never => {
    throw new BadUserInputError(
      `input.credentials.privateKey: ${why}; expected the service account's private_key: an unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") RSA key of at least ${MIN_RSA_BITS} bits`,
      'input.credentials.privateKey',
    );
  };
  const pem = privateKey.trim();
  if (!pem.startsWith('-----BEGIN PRIVATE KEY-----'))
    refuse(
      pem.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----')
        ? 'the key is encrypted'
        : 'not a PKCS#8 PEM private key',
    );
  let details: { type: string | undefined; bits: number | undefined };
  try {
    const key = createPrivateKey({ key: pem, format: 'pem' });
    details = { type: key.asymmetricKeyType, bits: key.asymmetricKeyDetails?.modulusLength };
  } catch {
    return refuse('the key does not parse');
  }
  if (details.type !== 'rsa') refuse(`the key is ${details.type ?? 'of an unknown type'}, not RSA`);
  if ((details.bits ?? 0) < MIN_RSA_BITS) refuse(`the RSA key has ${details.bits ?? 0} bits`);
}
