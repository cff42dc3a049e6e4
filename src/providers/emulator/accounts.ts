import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { SendgridEventTarget } from './callbacks';

/** A Twilio account as the emulator knows it: its SID and the auth token it authenticates and signs with. */
export interface TwilioAccount {
  accountSid: string;
  authToken: string;
}

/**
 * One of an account's numbers (`+14155550111`, or `whatsapp:+14155550111` for a WhatsApp sender) and where Twilio
 * posts the messages customers send to it: the number's own incoming-message webhook, as configured at Twilio.
 */
export interface TwilioNumber {
  number: string;
  inboundUrl: string;
}

/** What `POST /__emulator/accounts` takes: a tenant's own vendor account(s), registered or updated. */
export interface AccountRegistration {
  twilio?: TwilioAccount & { numbers?: TwilioNumber[] };
  sendgrid?: { apiKey: string; scopes?: string[]; eventWebhookUrl?: string };
}

/** Where a customer's message to a number goes, and the account that signs it. */
export interface InboundRoute {
  url: string;
  account: TwilioAccount;
}

/**
 * Where a SendGrid account's events go: the primary account's webhook (`'primary'`), an added account's own
 * (`target`), or nowhere (an added account with no Event Webhook set, as at SendGrid).
 */
export type SendgridDestination =
  { kind: 'primary' } | { kind: 'own'; target: SendgridEventTarget } | { kind: 'none' };

const DEFAULT_SCOPES = ['mail.send', 'scopes.read'];
const isString = (value: unknown): value is string => typeof value === 'string';

/**
 * The vendor accounts the emulator answers for beyond its primary ones (tenants' own channel configs, issue 13), and
 * where each reports back. Each account calls back as the real vendor would: to the URL configured on that account
 * (a number's incoming-message webhook, a SendGrid account's Event Webhook), signed with that account's own secret.
 * Registering again updates an account, so a tenant can add the webhooks once its config (and their path) exists.
 */
export class EmulatedAccounts {
  private readonly twilioTokens = new Map<string, string>();
  private readonly twilioNumbers = new Map<string, { accountSid: string; inboundUrl: string }>();
  private readonly sendgridScopes = new Map<string, string[]>();
  private readonly sendgridWebhooks = new Map<string, SendgridEventTarget>();

  constructor(private readonly primary: { twilio: TwilioAccount; sendgridApiKey: string }) {}

  /**
   * Registers or updates an account. A SendGrid account with `eventWebhookUrl` gets its own ECDSA P-256 key pair
   * (kept when the URL changes, as SendGrid keeps an account's verification key) and the public key (base64 DER,
   * as SendGrid shows it) is returned for the channel config's `webhookPublicKey`.
   */
  add(account: AccountRegistration): { sendgridWebhookPublicKey?: string } {
    const conflict = this.conflictOf(account);
    if (conflict) throw new AccountConflictError(conflict);
    if (account.twilio) this.addTwilio(account.twilio);
    return account.sendgrid ? this.addSendgrid(account.sendgrid) : {};
  }

  /**
   * Why a registration would take over what another account holds, or undefined. As at the vendors, an account is its
   * owner's: another caller cannot claim the primary account, re-register an added account under a token of its own,
   * nor move another account's number to its webhook (break round of issue 13: a tenant's admin re-registered tenant
   * A's account SID with its own token and pointed A's number at its own inbound path).
   */
  private conflictOf({ twilio, sendgrid }: AccountRegistration): string | undefined {
    if (twilio) {
      if (twilio.accountSid === this.primary.twilio.accountSid)
        return `twilio.accountSid: ${twilio.accountSid} is the emulator's primary account and cannot be registered`;
      const token = this.twilioTokens.get(twilio.accountSid);
      if (token !== undefined && token !== twilio.authToken)
        return `twilio.authToken: account ${twilio.accountSid} is registered with another auth token; register it with its own`;
      for (const { number } of twilio.numbers ?? []) {
        const owner = this.twilioNumbers.get(number.trim());
        if (owner && owner.accountSid !== twilio.accountSid)
          return `twilio.numbers: ${number.trim()} belongs to another account`;
      }
    }
    if (sendgrid && sendgrid.apiKey === this.primary.sendgridApiKey)
      return "sendgrid.apiKey: the emulator's primary key cannot be registered";
    return undefined;
  }

  private addTwilio(account: NonNullable<AccountRegistration['twilio']>): void {
    this.twilioTokens.set(account.accountSid, account.authToken);
    for (const { number, inboundUrl } of account.numbers ?? []) {
      this.twilioNumbers.set(number.trim(), { accountSid: account.accountSid, inboundUrl });
    }
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
}

/** A registration that would take over another account, its token or its number (answered 409). */
export class AccountConflictError extends Error {}

function publicKeyOf(privateKeyPem: string): string {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' }).toString('base64');
}

/** The registration in a control-API body, or the rule it breaks (answered 400). */
export function parseRegistration(body: unknown): AccountRegistration | string {
  const expected =
    'expected { twilio?: { accountSid, authToken, numbers?: [{ number, inboundUrl }] }, ' +
    'sendgrid?: { apiKey, scopes?, eventWebhookUrl? } }';
  const value = body as AccountRegistration | undefined;
  if (!value || typeof value !== 'object' || (!value.twilio && !value.sendgrid)) return expected;
  const { twilio, sendgrid } = value;
  if (twilio && !(isString(twilio.accountSid) && isString(twilio.authToken))) return expected;
  if (twilio?.numbers !== undefined && !validNumbers(twilio.numbers))
    return 'twilio.numbers: expected an array of { number, inboundUrl } with an http(s) inboundUrl';
  if (sendgrid && !isString(sendgrid.apiKey)) return expected;
  if (sendgrid?.eventWebhookUrl !== undefined && !isHttpUrl(sendgrid.eventWebhookUrl))
    return 'sendgrid.eventWebhookUrl: expected an http(s) URL';
  if (sendgrid?.scopes !== undefined && !(Array.isArray(sendgrid.scopes) && sendgrid.scopes.every(isString)))
    return 'sendgrid.scopes: expected an array of strings';
  return value;
}

function validNumbers(numbers: unknown): numbers is TwilioNumber[] {
  return (
    Array.isArray(numbers) &&
    numbers.every(
      (n) =>
        typeof n === 'object' &&
        n !== null &&
        isString((n as TwilioNumber).number) &&
        (n as TwilioNumber).number.trim() !== '' &&
        isHttpUrl((n as TwilioNumber).inboundUrl),
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
