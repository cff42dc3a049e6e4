import type { TenantAccount } from './account-check';
import { FcmProvider } from './fcm.provider';
import { emulatedTokenUrl } from './fcm-token-credential';
import type { ChannelProvider } from './provider.types';
import { SendgridProvider } from './sendgrid.provider';
import { SesProvider } from './ses.provider';
import { SnsProvider } from './sns.provider';
import { TwilioSmsProvider, TwilioWhatsappProvider } from './twilio.provider';

/** Where a tenant's adapter reaches its vendor and where the vendor calls back. */
export interface TenantAdapterOptions {
  configId: string;
  /** PUBLIC_URL: the status callback is `${publicUrl}/webhooks/twilio/${configId}/status`. */
  publicUrl: string;
  twilioApiUrl?: string;
  sendgridApiUrl?: string;
  fcmApiUrl?: string;
  sesApiUrl?: string;
  snsApiUrl?: string;
  timeoutMs: number;
  /** Always live: a tenant's account is real, whatever endpoint (emulator) it is pointed at. */
}

/**
 * Whether a tenant's account of this provider reports a message's settled price (the adapter has `fetchPrice`), so a
 * message sent through it is worth a later look (services/provider-price.service.ts). Known without credentials.
 */
export function tenantProviderReportsPrice(provider: string | null | undefined): boolean {
  return provider === 'twilio-sms' || provider === 'twilio-whatsapp';
}

/**
 * A provider adapter for one tenant channel config, built from its decrypted credentials: the same adapters as the
 * service-wide ones, so sending, error classification and limits are identical. Twilio's status callback is the
 * config's own path, so its events are verified with this account's token.
 */
export function buildTenantAdapter(account: TenantAccount, options: TenantAdapterOptions): ChannelProvider {
  const { senders, identifiers, secrets } = account;
  const { timeoutMs } = options;
  switch (account.provider) {
    case 'twilio-sms':
    case 'twilio-whatsapp': {
      const twilio = {
        mode: 'live' as const,
        accountSid: identifiers.accountSid ?? '',
        authToken: secrets.authToken ?? '',
        from: senders.messagingServiceSid ?? senders.fromNumber ?? '',
        whatsappFrom: senders.whatsappFrom ?? '',
        apiUrl: options.twilioApiUrl,
        statusCallbackUrl: `${options.publicUrl}/webhooks/twilio/${options.configId}/status`,
        timeoutMs,
        maxSockets: 10,
      };
      return account.provider === 'twilio-sms'
        ? new TwilioSmsProvider(twilio)
        : new TwilioWhatsappProvider(twilio);
    }
    case 'sendgrid':
      return new SendgridProvider({
        mode: 'live',
        apiKey: secrets.apiKey ?? '',
        from: senders.fromEmail ?? '',
        apiUrl: options.sendgridApiUrl,
        timeoutMs,
      });
    case 'ses':
      return new SesProvider({
        mode: 'live',
        region: identifiers.region ?? '',
        accessKeyId: identifiers.accessKeyId ?? '',
        secretAccessKey: secrets.secretAccessKey ?? '',
        from: senders.fromEmail ?? '',
        apiUrl: options.sesApiUrl,
        timeoutMs,
      });
    case 'sns':
      return new SnsProvider({
        mode: 'live',
        region: identifiers.region ?? '',
        accessKeyId: identifiers.accessKeyId ?? '',
        secretAccessKey: secrets.secretAccessKey ?? '',
        apiUrl: options.snsApiUrl,
        timeoutMs,
      });
    case 'fcm':
      return new FcmProvider({
        mode: 'live',
        projectId: senders.projectId ?? '',
        serviceAccount: {
          project_id: senders.projectId,
          client_email: identifiers.clientEmail,
          private_key: secrets.privateKey,
        },
        apiUrl: options.fcmApiUrl,
        // An overridden FCM endpoint (the sandbox emulator) issues the tokens too: the tenant's signed assertion
        // goes where its messages go, never to Google (README "Channel configs").
        tokenUrl: options.fcmApiUrl ? emulatedTokenUrl(options.fcmApiUrl) : undefined,
        timeoutMs,
      });
  }
}
