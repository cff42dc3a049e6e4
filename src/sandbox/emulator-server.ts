import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { CallbackOptions } from './callbacks';
import { ProviderEmulator, type EmulatorCredentials } from './emulator';

export interface RunningEmulator {
  emulator: ProviderEmulator;
  /** Base URL; vendor APIs live at `${url}/twilio`, `${url}/sendgrid`, `${url}/fcm`. */
  url: string;
  close(): Promise<void>;
}

/** The emulator as a standalone server (tests, staging): vendor APIs at the root, control API under /__emulator. */
export async function startEmulatorServer(
  options: {
    port?: number;
    host?: string;
    credentials?: EmulatorCredentials;
    callbacks?: Omit<CallbackOptions, 'twilioAuthToken'>;
    /** Herald's POST /webhooks/twilio/inbound, where customer messages sent through the control API are forwarded. */
    twilioInboundUrl?: string;
  } = {},
): Promise<RunningEmulator> {
  const emulator = new ProviderEmulator(options.credentials, options.callbacks, {
    twilioInboundUrl: options.twilioInboundUrl,
  });
  const app = express();
  app.use(emulator.vendorRouter());
  app.use('/__emulator', emulator.controlRouter());
  const server: Server = createServer(app);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    emulator,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        emulator.stop();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
