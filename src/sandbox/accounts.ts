import { SANDBOX } from '../config/sandbox';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { SendgridEventTarget } from './callbacks';

/** A Twilio account as the emulator knows it: its SID and the auth token it authenticates and signs with. */
export interface TwilioAccount {
  accountSid: string;
  authToken: string;
}

/**
 * One of an account's numbers (`+14155550111`, or `whatsapp:+14155550111` for a WhatsApp sender) and where Twilio
 * posts the messages customers send to it: the number's own incoming-message webhook, as configured at Twilio. A
 * number without `inboundUrl` has no webhook (customers' messages to it are recorded, not forwarded); it is still
 * the account's, so the account may send from it.
 */
export interface TwilioNumber {
  number: string;
  inboundUrl?: string;
}

/** An AWS IAM access key as the emulator knows it: SES and SNS requests signed with it are the account's. */
export interface AwsAccount {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * A Firebase project's service account: the emulator's token endpoint accepts JWT assertions from `clientEmail`
 * signed with its key (the public key, or the public half of `privateKey`), and its FCM endpoint that project's tokens.
 */
export interface FcmAccount {
  projectId: string;
  clientEmail: string;
  publicKey?: string;
  privateKey?: string;
}

/** What `POST /__emulator/accounts` takes: a tenant's own vendor account(s), registered or updated. */
export interface AccountRegistration {
  twilio?: TwilioAccount & { numbers?: TwilioNumber[]; messagingServiceSids?: string[] };
  sendgrid?: { apiKey: string; scopes?: string[]; eventWebhookUrl?: string };
  aws?: AwsAccount;
  fcm?: FcmAccount;
}

/** A registered Firebase service account: who may sign, with which public key (PEM). */
export interface FcmServiceAccount {
  projectId: string;
  clientEmail: string;
  publicKeyPem: string;
}

/** Where a customer's message to a registered number goes (nowhere without a webhook), and the account that signs it. */
export interface InboundRoute {
  url: string | undefined;
  account: TwilioAccount;
}

/**
 * Where a SendGrid account's events go: the primary account's webhook (`'primary'`), an added account's own
 * (`target`), or nowhere (an added account with no Event Webhook set, as at SendGrid).
 */
export type SendgridDestination =
  { kind: 'primary' } | { kind: 'own'; target: SendgridEventTarget } | { kind: 'none' };

const DEFAULT_SCOPES = ['mail.send', 'scopes.read'];
/** Who registers when no one is named: every such caller is the same one. */
const ANONYMOUS_REGISTRANT = '';
const isString = (value: unknown): value is string => typeof value === 'string';

/**
 * The vendor accounts the emulator answers for beyond its primary ones (tenants' own channel configs, issue 13), and
 * where each reports back. Each account calls back as the real vendor would: to the URL configured on that account
 * (a number's incoming-message webhook, a SendGrid account's Event Webhook), signed with that account's own secret.
 * Registering again updates an account, so a tenant can add the webhooks once its config (and their path) exists.
 */
export class EmulatedAccounts {
  private readonly twilioTokens = new Map<string, string>();
  private readonly twilioNumbers = new Map<string, { accountSid: string; inboundUrl?: string }>();
  /** Messaging Service SIDs (MG…) by the account they belong to. */
  private readonly twilioServices = new Map<string, string>();
  private readonly sendgridScopes = new Map<string, string[]>();
  private readonly sendgridWebhooks = new Map<string, SendgridEventTarget>();
  private readonly awsSecrets = new Map<string, string>();
  /** Registered service accounts by client_email (the JWT's `iss`). */
  private readonly fcmAccounts = new Map<string, FcmServiceAccount>();
  /** Who registered each Firebase project first (a registrant, see `add`): only they add service accounts to it. */
  private readonly fcmProjectOwners = new Map<string, string>();

  constructor(
    private readonly primary: {
      twilio: TwilioAccount;
      sendgridApiKey: string;
      aws: AwsAccount;
      fcmProjectId: string;
    },
  ) {}

  /**
   * Registers or updates an account. A SendGrid account with `eventWebhookUrl` gets its own ECDSA P-256 key pair
   * (kept when the URL changes, as SendGrid keeps an account's verification key) and the public key (base64 DER,
   * as SendGrid shows it) is returned for the channel config's `webhookPublicKey`.
   * `registrant` is who asks (on the API server: the admin's tenant); a Firebase project becomes its first
   * registrant's. Omitted (the standalone emulator, auth off, tests) = one anonymous registrant.
   * @throws AccountConflictError when the registration would take over another's account (conflictOf).
   */
  add(
    account: AccountRegistration,
    registrant = ANONYMOUS_REGISTRANT,
  ): { sendgridWebhookPublicKey?: string } {
    const conflict = this.conflictOf(account, registrant);
    if (conflict) throw new AccountConflictError(conflict);
    if (account.twilio) this.addTwilio(account.twilio);
    if (account.aws) this.awsSecrets.set(account.aws.accessKeyId, account.aws.secretAccessKey);
    if (account.fcm) {
      const { projectId, clientEmail } = account.fcm;
      this.fcmAccounts.set(clientEmail, {
        projectId,
        clientEmail,
        publicKeyPem: fcmPublicKeyOf(account.fcm),
      });
      this.fcmProjectOwners.set(projectId, registrant);
    }
    return account.sendgrid ? this.addSendgrid(account.sendgrid) : {};
  }

  /**
   * Why a registration would take over what another account holds, or undefined. As at the vendors, an account is its
   * owner's: another caller cannot claim the primary account, re-register an added account under a token of its own,
   * nor move another account's number to its webhook (break round of issue 13: a tenant's admin re-registered tenant
   * A's account SID with its own token and pointed A's number at its own inbound path). A Twilio account is whoever
   * holds its auth token, and a number its account's; a Firebase project has no secret in a registration (a public
   * key proves nothing), so it is its first registrant's, who alone adds service accounts to it (break round b13c: a
   * tenant's admin registered a new service account on tenant A's project and sent pushes as A).
   */
  private conflictOf(
    { twilio, sendgrid, aws, fcm }: AccountRegistration,
    registrant: string,
  ): string | undefined {
    if (aws) {
      if (aws.accessKeyId === this.primary.aws.accessKeyId)
        return `aws.accessKeyId: ${aws.accessKeyId} is the emulator's primary key and cannot be registered`;
      const secret = this.awsSecrets.get(aws.accessKeyId);
      if (secret !== undefined && secret !== aws.secretAccessKey)
        return `aws.secretAccessKey: access key ${aws.accessKeyId} is registered with another secret; register it with its own`;
    }
    if (fcm) {
      if (fcm.projectId === this.primary.fcmProjectId)
        return `fcm.projectId: ${fcm.projectId} is the emulator's primary project and cannot be registered`;
      const owner = this.fcmProjectOwners.get(fcm.projectId);
      if (owner !== undefined && owner !== registrant)
        return `fcm.projectId: project ${fcm.projectId} is registered by another owner; register service accounts on your own project`;
      const known = this.fcmAccounts.get(fcm.clientEmail);
      if (known && (known.projectId !== fcm.projectId || known.publicKeyPem !== fcmPublicKeyOf(fcm)))
        return `fcm.clientEmail: ${fcm.clientEmail} is registered with another project or key; register it with its own`;
    }
    if (twilio) {
      if (twilio.accountSid === this.primary.twilio.accountSid)
        return `twilio.accountSid: ${twilio.accountSid} is the emulator's primary account and cannot be registered`;
      const token = this.twilioTokens.get(twilio.accountSid);
      if (token !== undefined && token !== twilio.authToken)
        return `twilio.authToken: account ${twilio.accountSid} is registered with another auth token; register it with its own`;
      for (const { number } of twilio.numbers ?? []) {
        if (PRIMARY_NUMBERS.has(number.trim().replace(/^whatsapp:/, '')))
          return `twilio.numbers: ${number.trim()} is the emulator's primary (sandbox) number and cannot be registered`;
        const owner = this.twilioNumbers.get(number.trim());
        if (owner && owner.accountSid !== twilio.accountSid)
          return `twilio.numbers: ${number.trim()} belongs to another account`;
      }
      for (const sid of twilio.messagingServiceSids ?? []) {
        const owner = this.twilioServices.get(sid.trim());
        if (owner && owner !== twilio.accountSid)
          return `twilio.messagingServiceSids: ${sid.trim()} belongs to another account`;
      }
    }
    if (sendgrid && sendgrid.apiKey === this.primary.sendgridApiKey)
      return "sendgrid.apiKey: the emulator's primary key cannot be registered";
    return undefined;
  }

  private addTwilio(account: NonNullable<AccountRegistration['twilio']>): void {
    this.twilioTokens.set(account.accountSid, account.authToken);
    for (const { number, inboundUrl } of account.numbers ?? []) {
      const known = this.twilioNumbers.get(number.trim());
      // Registering a number again without a webhook keeps the one it has.
      this.twilioNumbers.set(number.trim(), {
        accountSid: account.accountSid,
        inboundUrl: inboundUrl ?? known?.inboundUrl,
      });
    }
    for (const sid of account.messagingServiceSids ?? [])
      this.twilioServices.set(sid.trim(), account.accountSid);
  }

  private addSendgrid(account: NonNullable<AccountRegistration['sendgrid']>): {
    sendgridWebhookPublicKey?: string;
  } {
    const known = this.sendgridScopes.get(account.apiKey);
    this.sendgridScopes.set(account.apiKey, account.scopes ?? known ?? DEFAULT_SCOPES);
    if (!account.eventWebhookUrl) return {};
    const privateKeyPem =
      this.sendgridWebhooks.get(account.apiKey)?.privateKeyPem ??
      generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
        .privateKey.export({ type: 'pkcs8', format: 'pem' })
        .toString();
    this.sendgridWebhooks.set(account.apiKey, { url: account.eventWebhookUrl, privateKeyPem });
    return { sendgridWebhookPublicKey: publicKeyOf(privateKeyPem) };
  }

  /** The auth token of a known Twilio account, primary or added. */
  twilioToken(accountSid: string): string | undefined {
    return accountSid === this.primary.twilio.accountSid
      ? this.primary.twilio.authToken
      : this.twilioTokens.get(accountSid);
  }

  /** The secret of a known AWS access key, primary or added; undefined for an unknown key. */
  awsSecret(accessKeyId: string): string | undefined {
    return accessKeyId === this.primary.aws.accessKeyId
      ? this.primary.aws.secretAccessKey
      : this.awsSecrets.get(accessKeyId);
  }

  /** A registered Firebase service account by its client_email (a JWT assertion's `iss`). */
  fcmAccount(clientEmail: string): FcmServiceAccount | undefined {
    return this.fcmAccounts.get(clientEmail);
  }

  /** The scopes of a known SendGrid key; undefined for an unknown key. */
  sendgridKeyScopes(apiKey: string): string[] | undefined {
    return apiKey === this.primary.sendgridApiKey ? DEFAULT_SCOPES : this.sendgridScopes.get(apiKey);
  }

  /** Where the events of what `apiKey` sent go. */
  sendgridDestination(apiKey: string): SendgridDestination {
    const target = this.sendgridWebhooks.get(apiKey);
    if (target) return { kind: 'own', target };
    return this.sendgridScopes.has(apiKey) ? { kind: 'none' } : { kind: 'primary' };
  }

  /** The added account that owns `to` (exactly as Twilio names it, `whatsapp:` included) and its webhook. */
  inboundRoute(to: string): InboundRoute | undefined {
    const owner = this.twilioNumbers.get(to.trim());
    const authToken = owner && this.twilioTokens.get(owner.accountSid);
    return owner && authToken
      ? { url: owner.inboundUrl, account: { accountSid: owner.accountSid, authToken } }
      : undefined;
  }

  /**
   * Whether `accountSid` may send from `sender`: a number (exactly as Twilio names it, `whatsapp:` included) or a
   * Messaging Service SID. An added account sends only from what was registered to it, as at Twilio, where a number
   * or service belongs to one account. The primary (sandbox) account keeps its open pool: any sender no added account
   * registered, so the sandbox numbers and test numbers need no registration.
   */
  ownsSender(accountSid: string, sender: string): boolean {
    const key = sender.trim();
    const owner = this.twilioNumbers.get(key)?.accountSid ?? this.twilioServices.get(key);
    if (accountSid === this.primary.twilio.accountSid) return owner === undefined;
    return owner === accountSid;
  }
}

/** A registration that would take over another account, its token or its number (answered 409). */
export class AccountConflictError extends Error {}

/** The SPKI PEM of a registration's public key (given, or derived from its private key); throws if unreadable. */
function fcmPublicKeyOf(fcm: FcmAccount): string {
  return createPublicKey(fcm.publicKey ?? fcm.privateKey ?? '')
    .export({ type: 'spki', format: 'pem' })
    .toString();
}

function publicKeyOf(privateKeyPem: string): string {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' }).toString('base64');
}

/** The registration in a control-API body, or the rule it breaks (answered 400). */
export function parseRegistration(body: unknown): AccountRegistration | string {
  const expected =
    'expected { twilio?: { accountSid, authToken, numbers?: [{ number, inboundUrl? }], messagingServiceSids? }, ' +
    'sendgrid?: { apiKey, scopes?, eventWebhookUrl? }, aws?: { accessKeyId, secretAccessKey }, ' +
    'fcm?: { projectId, clientEmail, publicKey? | privateKey? } }';
  const value = body as AccountRegistration | undefined;
  if (!value || typeof value !== 'object' || (!value.twilio && !value.sendgrid && !value.aws && !value.fcm))
    return expected;
  const { twilio, sendgrid, aws, fcm } = value;
  if (aws && !(isString(aws.accessKeyId) && aws.accessKeyId !== ''))
    return 'aws.accessKeyId: expected a non-empty string';
  if (aws && !(isString(aws.secretAccessKey) && aws.secretAccessKey !== ''))
    return 'aws.secretAccessKey: expected a non-empty string';
  if (fcm) {
    if (!(isString(fcm.projectId) && fcm.projectId !== ''))
      return 'fcm.projectId: expected a non-empty string';
    if (!(isString(fcm.clientEmail) && fcm.clientEmail !== ''))
      return 'fcm.clientEmail: expected a non-empty string';
    const field = fcm.publicKey !== undefined ? 'publicKey' : 'privateKey';
    try {
      fcmPublicKeyOf(fcm);
    } catch {
      return `fcm.${field}: expected a PEM RSA ${field === 'publicKey' ? 'public' : 'private'} key`;
    }
  }
  if (twilio && !(isString(twilio.accountSid) && isString(twilio.authToken))) return expected;
  if (twilio?.numbers !== undefined && !validNumbers(twilio.numbers))
    return 'twilio.numbers: expected an array of { number, inboundUrl? }, each number in E.164 (+14155550100, or whatsapp:+14155550100), with an http(s) inboundUrl';
  if (
    twilio?.messagingServiceSids !== undefined &&
    !(
      Array.isArray(twilio.messagingServiceSids) &&
      twilio.messagingServiceSids.every((sid) => isString(sid) && /^MG[0-9a-fA-F]{32}$/.test(sid.trim()))
    )
  )
    return 'twilio.messagingServiceSids: expected an array of MG… SIDs (MG and 32 hex digits)';
  if (sendgrid && !isString(sendgrid.apiKey)) return expected;
  if (sendgrid?.eventWebhookUrl !== undefined && !isHttpUrl(sendgrid.eventWebhookUrl))
    return 'sendgrid.eventWebhookUrl: expected an http(s) URL';
  if (sendgrid?.scopes !== undefined && !(Array.isArray(sendgrid.scopes) && sendgrid.scopes.every(isString)))
    return 'sendgrid.scopes: expected an array of strings';
  return value;
}

/**
 * The sandbox account's numbers, shared by every tenant that uses the service-wide account: a tenant registering one
 * would take the shared sender (its sends refused 21606, customers' replies and STOPs routed to that tenant alone;
 * break round b13d). Compared without the `whatsapp:` prefix, so neither form of either number can be taken.
 */
const PRIMARY_NUMBERS = new Set(
  [SANDBOX.twilio.from, SANDBOX.twilio.whatsappFrom].map((n) => n.replace(/^whatsapp:/, '')),
);

/**
 * A number as Twilio names a number of an account: E.164 (`+` then up to 15 digits, no spaces or punctuation,
 * ITU-T E.164 / https://www.twilio.com/docs/glossary/what-e164), `whatsapp:` in front for a WhatsApp sender. One
 * spelling per number, so a variant (`+1 500…`, `+1500-…`) can neither slip past the owner check nor be registered.
 */
const TWILIO_NUMBER = /^(whatsapp:)?\+[1-9]\d{1,14}$/;

function validNumbers(numbers: unknown): numbers is TwilioNumber[] {
  return (
    Array.isArray(numbers) &&
    numbers.every(
      (n) =>
        typeof n === 'object' &&
        n !== null &&
        isString((n as TwilioNumber).number) &&
        TWILIO_NUMBER.test((n as TwilioNumber).number.trim()) &&
        ((n as TwilioNumber).inboundUrl === undefined || isHttpUrl((n as TwilioNumber).inboundUrl)),
    )
  );
}

function isHttpUrl(value: unknown): boolean {
  if (!isString(value)) return false;
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}
