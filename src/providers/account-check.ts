import { createPrivateKey } from 'node:crypto';
import { Client } from '@sendgrid/client';
import type { ProviderId } from './provider.types';
import { createTwilioClient } from './twilio.provider';

/** A tenant's own account as the adapters need it: plain fields, secrets decrypted (never logged). */
export interface TenantAccount {
  provider: ProviderId;
  senders: {
    fromNumber?: string | null;
    messagingServiceSid?: string | null;
    whatsappFrom?: string | null;
    fromEmail?: string | null;
    projectId?: string | null;
  };
  identifiers: {
    accountSid?: string | null;
    accessKeyId?: string | null;
    region?: string | null;
    clientEmail?: string | null;
    webhookPublicKey?: string | null;
  };
  secrets: { authToken?: string; apiKey?: string; privateKey?: string; secretAccessKey?: string };
}

/** Where each vendor's API is reached (the service-wide endpoint overrides: the emulator in sandbox and tests). */
export interface VendorEndpoints {
  twilioApiUrl?: string;
  sendgridApiUrl?: string;
  timeoutMs: number;
}

export interface AccountCheck {
  ok: boolean;
  /** The vendor's refusal, or what is wrong locally; never a secret. */
  error: string | null;
  /** What was asked: `twilio GET /2010-04-01/Accounts/{sid}.json`, `sendgrid GET /v3/scopes`, or a local check. */
  checkedWith: string;
}

/**
 * The identifiers that name the account its credentials belong to, per provider: a change to one of them asks the
 * vendor again (checkAccount), as new credentials do. The others (SendGrid's `webhookPublicKey`, which verifies the
 * vendor's callbacks and authorises nothing) change without a check and without decrypting anything.
 */
export const ACCOUNT_IDENTIFIERS: Record<ProviderId, (keyof TenantAccount['identifiers'])[]> = {
  'twilio-sms': ['accountSid'],
  'twilio-whatsapp': ['accountSid'],
  sendgrid: [],
  fcm: ['clientEmail'],
  ses: ['accessKeyId', 'region'],
  sns: ['accessKeyId', 'region'],
};

/** Vendor messages are quoted short: they are about the account, never carry our secret, but may be long HTML. */
const brief = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

/**
 * Asks the vendor, through its real SDK, whether the account's credentials work: Twilio fetches the Account resource;
 * SendGrid reads the key's scopes and requires `mail.send`. FCM, SES and SNS are checked locally only (the private
 * key parses; the fields are present): the emulator has no Google OAuth token endpoint nor per-account AWS keys, so a
 * vendor call could not be tested here (README "Channel configs").
 */
export async function checkAccount(
  account: TenantAccount,
  endpoints: VendorEndpoints,
): Promise<AccountCheck> {
  try {
    switch (account.provider) {
      case 'twilio-sms':
      case 'twilio-whatsapp':
        return await checkTwilio(account, endpoints);
      case 'sendgrid':
        return await checkSendgrid(account, endpoints);
      case 'fcm':
        createPrivateKey(account.secrets.privateKey ?? '');
        return { ok: true, error: null, checkedWith: 'local: the service account private key parses' };
      case 'ses':
      case 'sns':
        return { ok: true, error: null, checkedWith: 'local: access key id, secret and region are present' };
    }
  } catch (error) {
    return { ok: false, error: brief(describe(error)), checkedWith: `local: ${account.provider}` };
  }
}

async function checkTwilio(account: TenantAccount, endpoints: VendorEndpoints): Promise<AccountCheck> {
  const accountSid = account.identifiers.accountSid ?? '';
  const checkedWith = 'twilio GET /2010-04-01/Accounts/{sid}.json';
  const client = createTwilioClient({
    accountSid,
    authToken: account.secrets.authToken ?? '',
    apiUrl: endpoints.twilioApiUrl,
    timeoutMs: endpoints.timeoutMs,
  });
  try {
    const fetched = await client.api.v2010.accounts(accountSid).fetch();
    if (fetched.status !== 'active')
      return { ok: false, error: `the account is ${fetched.status}, not active`, checkedWith };
    return { ok: true, error: null, checkedWith };
  } catch (error) {
    return { ok: false, error: brief(describe(error)), checkedWith };
  }
}

async function checkSendgrid(account: TenantAccount, endpoints: VendorEndpoints): Promise<AccountCheck> {
  const checkedWith = 'sendgrid GET /v3/scopes';
  const client = new Client();
  client.setApiKey(account.secrets.apiKey ?? '');
  if (endpoints.sendgridApiUrl)
    client.setDefaultRequest('baseUrl', endpoints.sendgridApiUrl.replace(/\/$/, ''));
  client.setDefaultRequest('timeout' as 'baseUrl', endpoints.timeoutMs as unknown as string);
  try {
    const [response] = await client.request({ method: 'GET', url: '/v3/scopes' });
    const scopes = (response.body as { scopes?: unknown }).scopes;
    if (!Array.isArray(scopes) || !scopes.includes('mail.send'))
      return { ok: false, error: 'the API key lacks the mail.send scope', checkedWith };
    return { ok: true, error: null, checkedWith };
  } catch (error) {
    return { ok: false, error: brief(describe(error)), checkedWith };
  }
}

/** The vendor's own words: status and message (Twilio RestException, SendGrid ResponseError), else the error's. */
function describe(error: unknown): string {
  const e = error as {
    status?: number;
    code?: number | string;
    message?: string;
    response?: { body?: { errors?: { message?: string }[] } };
  };
  const sendgrid = e.response?.body?.errors?.map((x) => x.message).join('; ');
  const status = typeof e.status === 'number' ? e.status : typeof e.code === 'number' ? e.code : undefined;
  const message = sendgrid || e.message || 'the vendor refused';
  return status !== undefined ? `${status}: ${message}` : message;
}
