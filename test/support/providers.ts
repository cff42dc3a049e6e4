import { afterAll, beforeAll, beforeEach } from 'vitest';
import { SANDBOX } from '../../src/config/sandbox';
import { startEmulatorServer, type RunningEmulator } from '../../src/sandbox/emulator-server';
import { FcmProvider } from '../../src/providers/fcm.provider';
import { SendgridProvider } from '../../src/providers/sendgrid.provider';
import { TwilioSmsProvider, TwilioWhatsappProvider } from '../../src/providers/twilio.provider';

/** What `useEmulatorProviders` gives a suite: set in its beforeAll. */
export interface EmulatorProviders {
  running: RunningEmulator;
  twilioSms: TwilioSmsProvider;
  twilioWhatsapp: TwilioWhatsappProvider;
  sendgrid: SendgridProvider;
  fcm: FcmProvider;
}

/** The send context every adapter test uses. */
export const TEST_SEND_CONTEXT = { messageId: 'msg-1', tenantId: 'tenant-a', attempt: 1 };

/**
 * Registers the suite's hooks: a standalone emulator and each provider adapter (the real vendor SDK) pointed at it
 * with the sandbox credentials; recordings and faults cleared before each test; all closed after the suite.
 */
export function useEmulatorProviders(): EmulatorProviders {
  const suite = {} as EmulatorProviders;
  beforeAll(async () => {
    suite.running = await startEmulatorServer();
    const twilioOptions = {
      mode: 'sandbox' as const,
      ...SANDBOX.twilio,
      apiUrl: `${suite.running.url}/twilio`,
      statusCallbackUrl: 'https://herald.example.com/webhooks/twilio/status',
      timeoutMs: 500,
    };
    suite.twilioSms = new TwilioSmsProvider(twilioOptions);
    suite.twilioWhatsapp = new TwilioWhatsappProvider(twilioOptions);
    suite.sendgrid = new SendgridProvider({
      mode: 'sandbox',
      apiKey: SANDBOX.sendgrid.apiKey,
      from: 'noreply@herald.dev',
      apiUrl: `${suite.running.url}/sendgrid`,
      // Suites post emails of 2 to 31 MB: on a loaded CI machine that alone can take seconds. (Twilio keeps 500 ms:
      // provider-adapters' timeout test injects a 1.5 s delay.)
      timeoutMs: 10_000,
    });
    suite.fcm = new FcmProvider({
      mode: 'sandbox',
      projectId: SANDBOX.fcm.projectId,
      accessToken: SANDBOX.fcm.accessToken,
      apiUrl: `${suite.running.url}/fcm`,
    });
  });
  beforeEach(() => suite.running.emulator.reset());
  afterAll(async () => {
    await suite.fcm?.close();
    await suite.running?.close();
  });
  return suite;
}
