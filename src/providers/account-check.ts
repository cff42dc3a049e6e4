import { GetSMSAttributesCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetAccountCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { Client } from '@sendgrid/client';
import { cert } from 'firebase-admin/app';
import { awsClientOptions } from './aws-error';
import { FcmProvider } from './fcm.provider';
import { emulatedTokenUrl, jwtBearerCredential } from './fcm-token-credential';
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
  /** FCM's endpoint override; with one, tokens come from `${fcmApiUrl}/token` too (fcm-token-credential.ts). */
  fcmApiUrl?: string;
  sesApiUrl?: string;
  snsApiUrl?: string;
  timeoutMs: number;
}

export interface AccountCheck {
  ok: boolean;
  /** The vendor's refusal, or what is wrong locally; never a secret. */
  error: string | null;
  /**
   * What was asked: `twilio GET /2010-04-01/Accounts/{sid}.json`, `sendgrid GET /v3/scopes`, `ses GetAccount`,
   * `sns GetSMSAttributes`, `fcm OAuth token + validate-only send`.
   */
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
 * Asks the vendor, through its real SDK, whether the account's credentials work (in the sandbox the emulator answers,
 * knowing only the accounts registered with it): Twilio fetches the Account resource; SendGrid reads the key's scopes
 * and requires `mail.send`; SES v2 GetAccount (and requires SendingEnabled); SNS GetSMSAttributes; FCM obtains an
 * access token (from Google with `cert()`, or from the overridden endpoint's `/token`) and makes a validate-only
 * send to a topic. Each is the vendor's cheapest authenticated call; a refusal is `ok: false` with its words.
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
        return await checkFcm(account, endpoints);
      case 'ses':
        return await checkSes(account, endpoints);
      case 'sns':
        return await checkSns(account, endpoints);
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

const awsOptions = (account: TenantAccount, apiUrl: string | undefined, timeoutMs: number) =>
  awsClientOptions({
    region: account.identifiers.region ?? '',
    accessKeyId: account.identifiers.accessKeyId ?? '',
    secretAccessKey: account.secrets.secretAccessKey ?? '',
    apiUrl,
    timeoutMs,
  });

async function checkSes(account: TenantAccount, endpoints: VendorEndpoints): Promise<AccountCheck> {
  const checkedWith = 'ses GET /v2/email/account (GetAccount)';
  const client = new SESv2Client(awsOptions(account, endpoints.sesApiUrl, endpoints.timeoutMs));
  try {
    const answer = await client.send(new GetAccountCommand({}));
    if (answer.SendingEnabled === false)
      return { ok: false, error: 'sending is disabled for this SES account', checkedWith };
    return { ok: true, error: null, checkedWith };
  } catch (error) {
    return { ok: false, error: brief(describe(error)), checkedWith };
  } finally {
    client.destroy();
  }
}

async function checkSns(account: TenantAccount, endpoints: VendorEndpoints): Promise<AccountCheck> {
  const checkedWith = 'sns POST / (GetSMSAttributes)';
  const client = new SNSClient(awsOptions(account, endpoints.snsApiUrl, endpoints.timeoutMs));
  try {
    await client.send(new GetSMSAttributesCommand({ attributes: ['DefaultSMSType'] }));
    return { ok: true, error: null, checkedWith };
  } catch (error) {
    return { ok: false, error: brief(describe(error)), checkedWith };
  } finally {
    client.destroy();
  }
}

/**
 * The token first, on its own, so its refusal is quoted plainly (firebase-admin wraps it in a long sentence); then a
 * validate-only send through the same adapter that will send.
 */
async function checkFcm(account: TenantAccount, endpoints: VendorEndpoints): Promise<AccountCheck> {
  const projectId = account.senders.projectId ?? '';
  const clientEmail = account.identifiers.clientEmail ?? '';
  const privateKey = account.secrets.privateKey ?? '';
  const tokenUrl = endpoints.fcmApiUrl ? emulatedTokenUrl(endpoints.fcmApiUrl) : undefined;
  const credential = tokenUrl
    ? jwtBearerCredential({ clientEmail, privateKey }, tokenUrl, endpoints.timeoutMs)
    : cert({ projectId, clientEmail, privateKey });
  const tokenCheck = `fcm OAuth token (${tokenUrl ? 'the emulator' : 'Google'})`;
  try {
    await credential.getAccessToken();
  } catch (error) {
    return { ok: false, error: brief(describe(error)), checkedWith: tokenCheck };
  }
  const checkedWith = `${tokenCheck} + validate-only send to projects/${projectId}`;
  const provider = new FcmProvider({
    mode: 'live',
    projectId,
    serviceAccount: { project_id: projectId, client_email: clientEmail, private_key: privateKey },
    apiUrl: endpoints.fcmApiUrl,
    tokenUrl,
    timeoutMs: endpoints.timeoutMs,
  });
  try {
    await provider.checkCredentials();
    return { ok: true, error: null, checkedWith };
  } catch (error) {
    return { ok: false, error: brief(describe(error)), checkedWith };
  } finally {
    await provider.close();
  }
}

/**
 * The vendor's own words: status and message (Twilio RestException, SendGrid ResponseError, an AWS service exception
 * with its name), else the error's.
 */
function describe(error: unknown): string {
  const e = error as {
    status?: number;
    code?: number | string;
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    response?: { body?: { errors?: { message?: string }[] } };
  };
  const sendgrid = e.response?.body?.errors?.map((x) => x.message).join('; ');
  const aws = e.$metadata?.httpStatusCode;
  const status =
    typeof e.status === 'number' ? e.status : typeof e.code === 'number' ? e.code : (aws ?? undefined);
  const message =
    sendgrid ||
    (aws !== undefined && e.name ? `${e.name}: ${e.message ?? ''}` : e.message) ||
    'the vendor refused';
  return status !== undefined ? `${status}: ${message}` : message;
}
