import type { Config } from '../config/env';
import { FcmProvider } from './fcm.provider';
import type { ChannelName, ChannelProvider, ProviderId } from './provider.types';
import { SendgridProvider } from './sendgrid.provider';
import { SesProvider } from './ses.provider';
import { SnsProvider } from './sns.provider';
import { TwilioSmsProvider, TwilioWhatsappProvider } from './twilio.provider';

/** What the registry knows of a provider from config alone; live health comes from the circuit breakers. */
export interface ProviderDescription {
  id: ProviderId;
  channel: ChannelName;
  configured: boolean;
  sandbox: boolean;
  /** Position in the channel's order (0 = primary); null when the provider is not in the channel's list. */
  priority: number | null;
}

export interface ProviderRegistry {
  /** The channel's providers in order, first = primary; empty when the channel is disabled (production, no creds). */
  forChannel<C extends ChannelName>(channel: C): ChannelProvider<C>[];
  /** A built provider by id (a message's `provider`), whatever its channel's order is now. */
  byId(id: string): ChannelProvider | undefined;
  describe(): ProviderDescription[];
  close(): Promise<void>;
}

type Mode = 'live' | 'sandbox' | 'disabled';

/** Builds one adapter per vendor from config (live credentials or the sandbox emulator) and orders them per channel. */
export function createProviderRegistry(config: Config): ProviderRegistry {
  const timeoutMs = config.dispatch.providerTimeoutMs;
  const { twilio, sendgrid, fcm, aws, routing } = config;
  const built = new Map<ProviderId, { provider?: ChannelProvider; channel: ChannelName; mode: Mode }>();
  const add = (id: ProviderId, channel: ChannelName, mode: Mode, build: () => ChannelProvider) =>
    built.set(id, { channel, mode, provider: mode === 'disabled' ? undefined : build() });

  const twilioOptions = () => ({
    ...twilio,
    mode: twilio.mode as 'live' | 'sandbox',
    statusCallbackUrl: `${config.server.publicUrl}/webhooks/twilio/status`,
    timeoutMs,
    // One socket for every job that may be sending at once: each Twilio lane (SMS, WhatsApp) and the CRITICAL lane.
    maxSockets: config.dispatch.concurrency * 3,
  });
  add('twilio-sms', 'SMS', twilio.mode, () => new TwilioSmsProvider(twilioOptions()));
  add('twilio-whatsapp', 'WHATSAPP', twilio.mode, () => new TwilioWhatsappProvider(twilioOptions()));
  add(
    'sendgrid',
    'EMAIL',
    sendgrid.mode,
    () => new SendgridProvider({ ...sendgrid, mode: sendgrid.mode as 'live' | 'sandbox', timeoutMs }),
  );
  add(
    'fcm',
    'PUSH',
    fcm.mode,
    () =>
      new FcmProvider({
        mode: fcm.mode as 'live' | 'sandbox',
        projectId: fcm.projectId,
        serviceAccount: fcm.serviceAccount,
        accessToken: fcm.sandboxAccessToken,
        apiUrl: fcm.apiUrl,
      }),
  );
  // AWS adapters exist only when a channel's order names them.
  const awsMode = aws.mode as 'live' | 'sandbox';
  if (routing.email.includes('ses')) {
    add(
      'ses',
      'EMAIL',
      aws.mode,
      () => new SesProvider({ ...aws, mode: awsMode, from: sendgrid.from, apiUrl: aws.sesApiUrl, timeoutMs }),
    );
  }
  if (routing.sms.includes('sns')) {
    add(
      'sns',
      'SMS',
      aws.mode,
      () => new SnsProvider({ ...aws, mode: awsMode, apiUrl: aws.snsApiUrl, timeoutMs }),
    );
  }

  const order: Record<ChannelName, ProviderId[]> = {
    EMAIL: routing.email,
    SMS: routing.sms,
    WHATSAPP: ['twilio-whatsapp'],
    PUSH: ['fcm'],
  };
  const chains = new Map<ChannelName, ChannelProvider[]>(
    (Object.keys(order) as ChannelName[]).map((channel) => [
      channel,
      order[channel].flatMap((id) => {
        const provider = built.get(id)?.provider;
        return provider ? [provider] : [];
      }),
    ]),
  );

  return {
    forChannel: <C extends ChannelName>(channel: C) => (chains.get(channel) ?? []) as ChannelProvider<C>[],
    byId: (id: string) => built.get(id as ProviderId)?.provider,
    describe: () =>
      [...built.entries()].map(([id, { channel, mode }]) => {
        const index = order[channel].indexOf(id);
        return {
          id,
          channel,
          configured: mode !== 'disabled',
          sandbox: mode === 'sandbox',
          priority: index < 0 ? null : index,
        };
      }),
    close: async () => {
      await Promise.all(
        [...built.values()].map(({ provider }) => (provider?.close ? provider.close() : Promise.resolve())),
      );
    },
  };
}
