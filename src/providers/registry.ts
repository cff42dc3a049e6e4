import type { Config } from '../config/env';
import { FcmProvider } from './fcm.provider';
import type { ChannelName, ChannelProvider, ProviderId } from './provider.types';
import { SendgridProvider } from './sendgrid.provider';
import { TwilioSmsProvider, TwilioWhatsappProvider } from './twilio.provider';

export interface ProviderInfo {
  id: ProviderId;
  channel: ChannelName;
  configured: boolean;
  sandbox: boolean;
  healthy: boolean;
  circuit: string | null;
}

export interface ProviderRegistry {
  /** The provider that sends on a channel, or undefined when the channel is disabled (production, no credentials). */
  forChannel<C extends ChannelName>(channel: C): ChannelProvider<C> | undefined;
  describe(): ProviderInfo[];
  close(): Promise<void>;
}

/** Builds one adapter per vendor from config: live credentials, or the sandbox emulator with fixed credentials. */
export function createProviderRegistry(config: Config): ProviderRegistry {
  const timeoutMs = config.dispatch.providerTimeoutMs;
  const providers = new Map<ChannelName, ChannelProvider>();
  const infos: ProviderInfo[] = [];

  const add = (provider: ChannelProvider | undefined, id: ProviderId, channel: ChannelName, mode: string) => {
    if (provider) providers.set(channel, provider);
    infos.push({
      id,
      channel,
      configured: mode !== 'disabled',
      sandbox: mode === 'sandbox',
      healthy: mode !== 'disabled',
      circuit: null,
    });
  };

  const { twilio, sendgrid, fcm } = config;
  if (twilio.mode !== 'disabled') {
    const options = {
      ...twilio,
      mode: twilio.mode,
      statusCallbackUrl: `${config.server.publicUrl}/webhooks/twilio/status`,
      timeoutMs,
    };
    add(new TwilioSmsProvider(options), 'twilio-sms', 'SMS', twilio.mode);
    add(new TwilioWhatsappProvider(options), 'twilio-whatsapp', 'WHATSAPP', twilio.mode);
  } else {
    add(undefined, 'twilio-sms', 'SMS', 'disabled');
    add(undefined, 'twilio-whatsapp', 'WHATSAPP', 'disabled');
  }
  add(
    sendgrid.mode === 'disabled'
      ? undefined
      : new SendgridProvider({ ...sendgrid, mode: sendgrid.mode, timeoutMs }),
    'sendgrid',
    'EMAIL',
    sendgrid.mode,
  );
  add(
    fcm.mode === 'disabled'
      ? undefined
      : new FcmProvider({
          mode: fcm.mode,
          projectId: fcm.projectId,
          serviceAccount: fcm.serviceAccount,
          accessToken: fcm.sandboxAccessToken,
          apiUrl: fcm.apiUrl,
        }),
    'fcm',
    'PUSH',
    fcm.mode,
  );

  return {
    forChannel: <C extends ChannelName>(channel: C) =>
      providers.get(channel) as ChannelProvider<C> | undefined,
    describe: () => infos.map((info) => ({ ...info })),
    close: async () => {
      await Promise.all([...providers.values()].map((p) => (p.close ? p.close() : Promise.resolve())));
    },
  };
}
