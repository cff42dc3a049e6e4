import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { describeConfig } from '../../src/config/describe';
import { ConfigError, parseConfig } from '../../src/config/env';
import { SANDBOX, SANDBOX_SENDGRID_WEBHOOK_KEYS } from '../../src/config/sandbox';

describe('configuration', () => {
  it('defaults to sandbox channels, auth off and the CONTRACT defaults', () => {
    const config = parseConfig({});
    expect(config.db.url).toBe('postgres://postgres@127.0.0.1:5432/herald');
    expect(config.redis.url).toBe('redis://127.0.0.1:6379/0');
    expect(config.server).toMatchObject({ port: 4000, publicUrl: 'http://localhost:4000' });
    expect(config.auth.enabled).toBe(false);
    expect([config.twilio.mode, config.sendgrid.mode, config.fcm.mode]).toEqual([
      'sandbox',
      'sandbox',
      'sandbox',
    ]);
    expect(config.twilio.apiUrl).toBe('http://localhost:4000/sandbox/twilio');
    expect(config.fcm.apiUrl).toBe('http://localhost:4000/sandbox/fcm');
  });

  it('lists every problem at once', () => {
    let error: unknown;
    try {
      parseConfig({
        PORT: 'abc',
        DATABASE_URL: 'mysql://x',
        TWILIO_ACCOUNT_SID: 'XX1',
        EMAIL_FROM: 'nope',
        JWT_SECRET: 'short',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'DATABASE_URL', 'TWILIO_ACCOUNT_SID', 'EMAIL_FROM', 'JWT_SECRET'])
      expect(problems).toContain(name);
  });

  it('refuses production without JWT config, and disables channels without credentials there', () => {
    expect(() => parseConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET or JWT_JWKS_URL/);
    const config = parseConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) });
    expect([config.twilio.mode, config.sendgrid.mode, config.fcm.mode]).toEqual([
      'disabled',
      'disabled',
      'disabled',
    ]);
  });

  it('requires the rest of a vendor when part of it is given', () => {
    expect(() => parseConfig({ TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}` })).toThrow(
      /TWILIO_AUTH_TOKEN.*\n.*TWILIO_FROM|TWILIO_FROM/s,
    );
  });

  it('parses per-provider send rates and refuses a malformed list', () => {
    expect(parseConfig({ PROVIDER_RATE_LIMITS: 'twilio-sms=1, sendgrid=100' }).dispatch.rateLimits).toEqual({
      'twilio-sms': 1,
      sendgrid: 100,
    });
    expect(parseConfig({}).dispatch.rateLimits).toEqual({});
    expect(() => parseConfig({ PROVIDER_RATE_LIMITS: 'twilio-sms:1' })).toThrow(/PROVIDER_RATE_LIMITS/);
  });

  it('prints one screen with secrets masked', () => {
    const config = parseConfig({
      DATABASE_URL: 'postgres://herald:supersecret@db:5432/herald',
      TWILIO_ACCOUNT_SID: `AC${'1'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'twilio-token-value-123',
      TWILIO_FROM: '+14155552671',
      SENDGRID_API_KEY: 'SG.real-key-value',
      EMAIL_FROM: 'ops@example.com',
      JWT_SECRET: 'j'.repeat(40),
    });
    const screen = describeConfig(config, 'api');
    expect(screen).toContain('role api');
    // The worker serves no HTTP: its screen names no port to look for.
    const worker = describeConfig(config, 'worker').split('\n')[0];
    expect(worker).toContain('role worker');
    expect(worker).toContain('no HTTP server');
    expect(worker).not.toMatch(/port \d+/);
    expect(screen).toMatch(/EMAIL\s+live/);
    expect(screen).toMatch(/SMS\s+live/);
    expect(screen).toMatch(/PUSH\s+sandbox/);
    expect(screen).toContain('auth        ON');
    for (const secret of ['supersecret', 'twilio-token-value-123', 'SG.real-key-value', 'j'.repeat(40)])
      expect(screen).not.toContain(secret);
  });
  describe('webhook credentials', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) };
    const twilio = { TWILIO_ACCOUNT_SID: `AC${'1'.repeat(32)}`, TWILIO_FROM: '+14155552671' };

    const configuredKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .publicKey.export({ type: 'spki', format: 'der' })
      .toString('base64');

    it('production refuses the sandbox SendGrid key however it is spelled, compared as a parsed key', () => {
      const b64 = SANDBOX_SENDGRID_WEBHOOK_KEYS.publicKeyBase64;
      const pem = createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'spki' })
        .export({ type: 'spki', format: 'pem' })
        .toString();
      for (const spelling of [
        b64.replace(/=+$/, ''), // without its padding: started in production before
        `  ${b64.match(/.{1,20}/g)!.join('\n')}\n`,
        pem,
        pem.replaceAll('\n', '\r\n'),
      ]) {
        expect(() => parseConfig({ ...production, SENDGRID_WEBHOOK_PUBLIC_KEY: spelling })).toThrow(
          /SENDGRID_WEBHOOK_PUBLIC_KEY: the sandbox key is public/,
        );
      }
    });

    it('refuses an unparseable SendGrid key, or one that is not P-256, at startup in every environment', () => {
      const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
        .publicKey.export({ type: 'spki', format: 'der' })
        .toString('base64');
      for (const env of [production, {}]) {
        expect(() => parseConfig({ ...env, SENDGRID_WEBHOOK_PUBLIC_KEY: 'configured-key' })).toThrow(
          /SENDGRID_WEBHOOK_PUBLIC_KEY: not a public key/,
        );
        expect(() => parseConfig({ ...env, SENDGRID_WEBHOOK_PUBLIC_KEY: rsa })).toThrow(
          /SENDGRID_WEBHOOK_PUBLIC_KEY: not an ECDSA P-256 public key/,
        );
      }
    });

    it('production refuses the sandbox Twilio token with whitespace around it', () => {
      expect(() =>
        parseConfig({ ...production, ...twilio, TWILIO_AUTH_TOKEN: ` ${SANDBOX.twilio.authToken}\n` }),
      ).toThrow(/TWILIO_AUTH_TOKEN: the sandbox token/);
    });

    it('production without vendor credentials has nothing to verify webhooks with (no routes)', () => {
      const config = parseConfig(production);
      // No vendor to verify; only the SendGrid window, which tenants' own configs use too.
      expect(config.webhooks).toEqual({ sendgridWindow: { maxAgeSeconds: 72 * 3600, maxSkewSeconds: 300 } });
      expect(config.twilio.authToken).toBe('');
      expect(describeConfig(config, 'api')).toMatch(
        /Twilio not served \(404.*SendGrid events not served \(404/,
      );
    });

    it('the startup screen names what a disabled channel needs, not sandbox values it will not use', () => {
      const screen = describeConfig(parseConfig(production), 'api');
      expect(screen).toMatch(/EMAIL\s+disabled no credentials; set SENDGRID_API_KEY and EMAIL_FROM/);
      expect(screen).toMatch(/SMS\s+disabled no credentials; set TWILIO_ACCOUNT_SID/);
      expect(screen).toMatch(/PUSH\s+disabled no credentials; set FIREBASE_SERVICE_ACCOUNT/);
      for (const value of [SANDBOX.twilio.accountSid, SANDBOX.twilio.whatsappFrom])
        expect(screen).not.toContain(value);
    });

    it('production verifies with the configured secrets only', () => {
      const config = parseConfig({
        ...production,
        ...twilio,
        TWILIO_AUTH_TOKEN: 'configured-token',
        SENDGRID_WEBHOOK_PUBLIC_KEY: configuredKey,
      });
      expect(config.webhooks).toMatchObject({
        twilio: { authToken: 'configured-token', origin: 'configured' },
        sendgrid: {
          publicKey: configuredKey,
          origin: 'configured',
          maxAgeSeconds: 72 * 3600,
          maxSkewSeconds: 300,
        },
      });
    });

    it('production refuses the public sandbox token, key and development unsubscribe secret', () => {
      const pem = `-----BEGIN PUBLIC KEY-----\n${SANDBOX_SENDGRID_WEBHOOK_KEYS.publicKeyBase64}\n-----END PUBLIC KEY-----`;
      for (const [vars, problem] of [
        [{ ...twilio, TWILIO_AUTH_TOKEN: SANDBOX.twilio.authToken }, /TWILIO_AUTH_TOKEN: the sandbox token/],
        [
          { SENDGRID_WEBHOOK_PUBLIC_KEY: SANDBOX_SENDGRID_WEBHOOK_KEYS.publicKeyBase64 },
          /SENDGRID_WEBHOOK_PUBLIC_KEY/,
        ],
        [{ SENDGRID_WEBHOOK_PUBLIC_KEY: pem }, /SENDGRID_WEBHOOK_PUBLIC_KEY: the sandbox key/],
        [
          { UNSUBSCRIBE_SECRET: 'herald-development-unsubscribe-secret-not-for-production' },
          /UNSUBSCRIBE_SECRET/,
        ],
      ] as const) {
        expect(() => parseConfig({ ...production, ...vars })).toThrow(problem);
      }
    });

    it('outside production the sandbox keys verify what the emulator signs; the window is configurable', () => {
      const config = parseConfig({
        SENDGRID_WEBHOOK_MAX_AGE_HOURS: '48',
        SENDGRID_WEBHOOK_MAX_SKEW_SECONDS: '60',
      });
      expect(config.webhooks).toEqual({
        sendgridWindow: { maxAgeSeconds: 172800, maxSkewSeconds: 60 },
        twilio: { authToken: SANDBOX.twilio.authToken, origin: 'sandbox' },
        sendgrid: {
          publicKey: SANDBOX_SENDGRID_WEBHOOK_KEYS.publicKeyBase64,
          origin: 'sandbox',
          maxAgeSeconds: 48 * 3600,
          maxSkewSeconds: 60,
        },
      });
      // SendGrid retries for 24 hours: a shorter window would refuse its own retries.
      expect(() => parseConfig({ SENDGRID_WEBHOOK_MAX_AGE_HOURS: '24' })).toThrow(
        /SENDGRID_WEBHOOK_MAX_AGE_HOURS/,
      );
    });
  });
});
