/**
 * Fixed, documented sandbox credentials. In sandbox mode the real SDKs authenticate with these against Herald's
 * built-in provider emulator, and Herald's own webhook verification accepts what the sandbox signs with them.
 * They grant nothing anywhere else.
 */
export const SANDBOX = {
  twilio: {
    accountSid: 'AC00000000000000000000000000000000',
    authToken: 'herald-sandbox-twilio-auth-token',
    from: '+15005550006',
    whatsappFrom: 'whatsapp:+14155238886',
  },
  sendgrid: {
    apiKey: 'SG.herald-sandbox.sendgrid-api-key',
    from: 'herald@sandbox.herald.dev',
  },
  fcm: {
    projectId: 'herald-sandbox',
    accessToken: 'herald-sandbox-fcm-access-token',
  },
} as const;

/** Reserved sandbox addresses (CONTRACT.md "Sandbox mode"). */
export const SANDBOX_ADDRESSES = {
  rejectedPhone: '+15005550001',
  undeliveredPhone: '+15005550009',
  bounceEmail: 'bounce@sandbox.herald.dev',
  unregisteredTokenPrefix: 'unregistered-',
} as const;
