import {
  Channel,
  CHANNEL_CONFIG_PROVIDERS,
  type ChannelConfigIdentifiers,
  type ChannelConfigProvider,
  type ChannelConfigSecrets,
  type ChannelConfigSenders,
} from '../entities';
import { sendgridPublicKeyProblem } from '../providers/sendgrid.webhook';
import { normalizeEmail, normalizePhone, requireDisplayName } from './address-validation';
import { BadUserInputError } from './errors';
import { checkVendorIdentifiers } from './channel-config-vendor-rules';
import { assertStorable } from './input-guard';

/** The channel each provider sends on. */
export const PROVIDER_CHANNEL: Record<ChannelConfigProvider, Channel> = {
  'twilio-sms': Channel.SMS,
  'twilio-whatsapp': Channel.WHATSAPP,
  sendgrid: Channel.EMAIL,
  fcm: Channel.PUSH,
  ses: Channel.EMAIL,
  sns: Channel.SMS,
};

/** What a caller sends for a new config (GraphQL CreateChannelConfigInput). */
export interface ChannelConfigCreate {
  name: string;
  channel: Channel;
  provider: string;
  active?: boolean | null;
  position?: number | null;
  senders?: ChannelConfigSenders | null;
  identifiers?: ChannelConfigIdentifiers | null;
  credentials?: { [K in keyof ChannelConfigSecrets]?: string | null } | null;
}

/** A change (GraphQL UpdateChannelConfigInput): a field left out is kept; a secret given replaces the stored one. */
export type ChannelConfigChange = Partial<Omit<ChannelConfigCreate, 'channel' | 'provider' | 'name'>> & {
  name?: string | null;
};

/** Longest secret accepted (an RSA-4096 PEM private key is about 3,300 characters). */
const MAX_SECRET = 16_384;
const MAX_POSITION = 1_000;
const SID = (prefix: string) => new RegExp(`^${prefix}[0-9a-fA-F]{32}$`);
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** A checked provider id; BAD_USER_INPUT naming `provider` otherwise. */
export function parseProvider(value: string): ChannelConfigProvider {
  if ((CHANNEL_CONFIG_PROVIDERS as readonly string[]).includes(value)) return value as ChannelConfigProvider;
  throw new BadUserInputError(
    `provider: must be one of ${CHANNEL_CONFIG_PROVIDERS.join(', ')}`,
    'input.provider',
  );
}

/** Drops null/undefined/blank fields, trimmed. */
function compact<T extends object>(value: T | null | undefined): Partial<T> {
  return Object.fromEntries(
    Object.entries(value ?? {})
      .filter(([, v]) => typeof v === 'string' && v.trim() !== '')
      .map(([k, v]) => [k, (v as string).trim()]),
  ) as Partial<T>;
}

/** Name, position and the storable shape of every string (no NUL; secrets at most MAX_SECRET, never quoted). */
export function checkCommon(input: ChannelConfigChange): void {
  assertStorable({ input }, '', { maxString: MAX_SECRET, maxDepth: 3 });
  if (input.name !== undefined && input.name !== null) requireDisplayName(input.name, 'input.name', 100);
  if (input.name === null) throw new BadUserInputError('input.name: must not be null', 'input.name');
  if (
    input.position !== undefined &&
    input.position !== null &&
    (!Number.isInteger(input.position) || input.position < 0 || input.position > MAX_POSITION)
  ) {
    throw new BadUserInputError(
      `input.position: must be an integer from 0 to ${MAX_POSITION}`,
      'input.position',
    );
  }
}

/**
 * The full set of fields a provider needs, normalised: numbers to E.164, emails as address-validation.ts keeps them,
 * SIDs and regions by shape. Throws BAD_USER_INPUT naming the first missing or malformed field; a secret is named,
 * never quoted.
 */
export function normalizeAccount(
  provider: ChannelConfigProvider,
  sendersIn: ChannelConfigSenders,
  identifiersIn: ChannelConfigIdentifiers,
  secrets: ChannelConfigSecrets,
): { senders: ChannelConfigSenders; identifiers: ChannelConfigIdentifiers; secrets: ChannelConfigSecrets } {
  const senders = compact(sendersIn);
  const identifiers = compact(identifiersIn);
  const need = (group: string, value: string | undefined | null, field: string, why: string) => {
    if (!value)
      throw new BadUserInputError(
        `input.${group}.${field}: required for ${provider} (${why})`,
        `input.${group}.${field}`,
      );
    return value;
  };
  const shape = (value: string, pattern: RegExp, field: string, rule: string) => {
    if (!pattern.test(value)) throw new BadUserInputError(`${field}: ${rule}`, field);
    return value;
  };
  switch (provider) {
    case 'twilio-sms':
    case 'twilio-whatsapp': {
      shape(
        need('identifiers', identifiers.accountSid, 'accountSid', 'the Twilio account'),
        SID('AC'),
        'input.identifiers.accountSid',
        'must be AC followed by 32 hex digits',
      );
      need('credentials', secrets.authToken, 'authToken', 'the Twilio auth token');
      if (provider === 'twilio-whatsapp') {
        const from = need('senders', senders.whatsappFrom, 'whatsappFrom', 'the WhatsApp sender');
        senders.whatsappFrom = normalizePhone(from, 'input.senders.whatsappFrom');
      } else if (senders.messagingServiceSid) {
        shape(
          senders.messagingServiceSid,
          SID('MG'),
          'input.senders.messagingServiceSid',
          'must be MG followed by 32 hex digits',
        );
      } else {
        const from = need('senders', senders.fromNumber, 'fromNumber', 'or messagingServiceSid');
        senders.fromNumber = normalizePhone(from, 'input.senders.fromNumber');
      }
      break;
    }
    case 'sendgrid':
    case 'ses': {
      const from = need('senders', senders.fromEmail, 'fromEmail', 'the sender address');
      senders.fromEmail = normalizeEmail(from, 'input.senders.fromEmail');
      if (provider === 'sendgrid') {
        need('credentials', secrets.apiKey, 'apiKey', 'the SendGrid API key');
        // Checked here, not at the first webhook: an unusable key answered every event with 500 (break-it, issue 13).
        const problem = identifiers.webhookPublicKey
          ? sendgridPublicKeyProblem(identifiers.webhookPublicKey)
          : undefined;
        if (problem)
          throw new BadUserInputError(
            `input.identifiers.webhookPublicKey: ${problem}`,
            'input.identifiers.webhookPublicKey',
          );
      } else awsFields(identifiers, secrets, need, shape);
      break;
    }
    case 'sns': {
      awsFields(identifiers, secrets, need, shape);
      if (senders.fromNumber)
        senders.fromNumber = normalizePhone(senders.fromNumber, 'input.senders.fromNumber');
      break;
    }
    case 'fcm': {
      need('senders', senders.projectId, 'projectId', 'the Firebase project');
      need('identifiers', identifiers.clientEmail, 'clientEmail', "the service account's client_email");
      need('credentials', secrets.privateKey, 'privateKey', "the service account's private_key");
      checkVendorIdentifiers(provider, senders, identifiers);
      break;
    }
  }
  return { senders, identifiers, secrets };
}

function awsFields(
  identifiers: ChannelConfigIdentifiers,
  secrets: ChannelConfigSecrets,
  need: (group: string, value: string | undefined | null, field: string, why: string) => string,
  shape: (value: string, pattern: RegExp, field: string, rule: string) => string,
): void {
  need('identifiers', identifiers.accessKeyId, 'accessKeyId', 'the AWS access key id');
  shape(
    need('identifiers', identifiers.region, 'region', 'the AWS region'),
    REGION,
    'input.identifiers.region',
    'must be an AWS region such as us-east-1',
  );
  need('credentials', secrets.secretAccessKey, 'secretAccessKey', 'the AWS secret access key');
  checkVendorIdentifiers('ses', {}, identifiers);
}

/** A tenant's default sender per channel (tenant settings `defaultSenders`). */
export interface DefaultSenderSet {
  email: string | null;
  sms: string | null;
  whatsapp: string | null;
}

const MESSAGING_SERVICE = SID('MG');

/**
 * The senders of a new config with the tenant's default sender for its channel copied in where the provider needs a
 * sender identity and none was given (Twilio SMS: fromNumber or messagingServiceSid; Twilio WhatsApp: whatsappFrom;
 * SendGrid and SES: fromEmail). SNS and FCM need none, so nothing is copied to them. Copied once, at create: a later
 * change of the defaults leaves existing configs as they are.
 * @throws BadUserInputError naming the sender field when neither the input nor the tenant's defaults have one.
 */
export function withDefaultSenders(
  provider: ChannelConfigProvider,
  sendersIn: ChannelConfigSenders,
  defaults: DefaultSenderSet,
): ChannelConfigSenders {
  const senders = { ...compact(sendersIn) };
  const missing = (field: keyof ChannelConfigSenders, channel: keyof DefaultSenderSet, why: string) =>
    new BadUserInputError(
      `input.senders.${field}: required for ${provider} (${why}); the tenant has no defaultSenders.${channel} to use instead`,
      `input.senders.${field}`,
    );
  switch (provider) {
    case 'twilio-sms':
      if (senders.fromNumber || senders.messagingServiceSid) break;
      if (!defaults.sms) throw missing('fromNumber', 'sms', 'or messagingServiceSid');
      if (MESSAGING_SERVICE.test(defaults.sms)) senders.messagingServiceSid = defaults.sms;
      else senders.fromNumber = defaults.sms;
      break;
    case 'twilio-whatsapp':
      if (senders.whatsappFrom) break;
      if (!defaults.whatsapp) throw missing('whatsappFrom', 'whatsapp', 'the WhatsApp sender');
      senders.whatsappFrom = defaults.whatsapp;
      break;
    case 'sendgrid':
    case 'ses':
      if (senders.fromEmail) break;
      if (!defaults.email) throw missing('fromEmail', 'email', 'the sender address');
      senders.fromEmail = defaults.email;
      break;
    default:
      break;
  }
  return senders;
}

/** Secrets given in a change, blank ones dropped (a secret cannot be cleared, only replaced). */
export const givenSecrets = (secrets: ChannelConfigCreate['credentials']): ChannelConfigSecrets =>
  compact(secrets) as ChannelConfigSecrets;
