import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/env';
import { isSystemActorName, providerActor, webhookActor } from '../../src/domain/audit-actors';
import { isAllowed } from '../../src/resolvers/scopes';
import { ALL_SCOPES, createAuthenticator } from '../../src/server/auth';

const SECRET = 'unit-auth-secret-long-enough-for-hs256!!';

describe('authentication and scope rules', () => {
  it('with auth off the development caller holds every permission scope and counts as a backend (service)', async () => {
    const caller = await createAuthenticator(parseConfig({}).auth)(undefined);
    expect(caller.tenantId).toBe('default');
    expect(caller.scopes).toEqual(expect.arrayContaining([...ALL_SCOPES, 'service']));
    expect(ALL_SCOPES).not.toContain('service');
  });

  it('admin implies every permission scope but never service', () => {
    for (const scope of ALL_SCOPES) expect(isAllowed(['admin'], [scope as never])).toBe(true);
    expect(isAllowed(['service'], ['communication:read'])).toBe(false);
    expect(isAllowed([], [])).toBe(true);
    expect(isAllowed(['communication:read'], ['consent:manage', 'communication:read'])).toBe(true);
  });

  it('keeps exp as expiresAt (ms) and refuses a token without exp', async () => {
    const authenticate = createAuthenticator(parseConfig({ JWT_SECRET: SECRET }).auth);
    const key = new TextEncoder().encode(SECRET);
    const base = () =>
      new SignJWT({ tenant: 'acme', scope: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('s');
    const exp = Math.floor(Date.now() / 1000) + 60;
    const caller = await authenticate(`Bearer ${await base().setExpirationTime(exp).sign(key)}`);
    expect(caller.expiresAt).toBe(exp * 1000);
    await expect(authenticate(`Bearer ${await base().sign(key)}`)).rejects.toMatchObject({
      message: expect.stringContaining('"exp"') as unknown,
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });

  it('with JWT_MAX_TOKEN_AGE_SECONDS, refuses a token whose exp lies further ahead (a 100-year token)', async () => {
    const authenticate = createAuthenticator(
      parseConfig({ JWT_SECRET: SECRET, JWT_MAX_TOKEN_AGE_SECONDS: '86400' }).auth,
    );
    const key = new TextEncoder().encode(SECRET);
    const signed = (expiresIn: string) =>
      new SignJWT({ tenant: 'acme', scope: 'admin' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('s')
        .setExpirationTime(expiresIn)
        .sign(key);
    await expect(authenticate(`Bearer ${await signed('23h')}`)).resolves.toMatchObject({ tenantId: 'acme' });
    await expect(authenticate(`Bearer ${await signed('100y')}`)).rejects.toMatchObject({
      message: expect.stringContaining('JWT_MAX_TOKEN_AGE_SECONDS') as unknown,
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });

  it('refuses sub and tenant claims Herald cannot key rows by: NUL, control characters, lone surrogates, 201+ characters', async () => {
    const authenticate = createAuthenticator(parseConfig({ JWT_SECRET: SECRET }).auth);
    const key = new TextEncoder().encode(SECRET);
    const signed = (tenant: string, sub: string) =>
      new SignJWT({ tenant, scope: 'admin' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(sub)
        .setExpirationTime('5m')
        .sign(key);
    await expect(authenticate(`Bearer ${await signed('acme 😀', 'ann')}`)).resolves.toMatchObject({
      tenantId: 'acme 😀',
    });
    for (const [tenant, sub] of [
      ['t\u0000x', 'ann'],
      ['t\ud800', 'ann'],
      ['acme', 'a\udc00'],
      ['acme', 'line\nbreak'],
      ['x'.repeat(201), 'ann'],
    ]) {
      await expect(
        authenticate(`Bearer ${await signed(tenant, sub)}`),
        JSON.stringify([tenant, sub]),
      ).rejects.toMatchObject({
        extensions: { code: 'UNAUTHENTICATED' },
      });
    }
  });

  it('refuses a sub that reads as one of Herald\'s own audit actors, a blank sub or tenant, and the tenant "*"', async () => {
    const authenticate = createAuthenticator(parseConfig({ JWT_SECRET: SECRET }).auth);
    const key = new TextEncoder().encode(SECRET);
    const signed = (tenant: string, sub: string) =>
      new SignJWT({ tenant, scope: 'admin' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(sub)
        .setExpirationTime('5m')
        .sign(key);
    for (const [tenant, sub, says] of [
      ['acme', 'webhook:twilio', 'audit actors'],
      ['acme', 'webhook:', 'audit actors'],
      ['acme', '  Webhook:SendGrid', 'audit actors'],
      ['acme', 'PROVIDER:fcm', 'audit actors'],
      ['acme', 'provider:anything-else', 'audit actors'],
      ['acme', 'unsubscribe-link', 'audit actors'],
      ['acme', ' Unsubscribe-Link\u00a0', 'audit actors'],
      ['acme', '   ', '"sub" is blank'],
      ['acme', '\u3000', '"sub" is blank'],
      ['  ', 'ann', '"tenant" is blank'],
      // The service-wide identity: a tenant "*" would write its own config's blocks for every tenant.
      ['*', 'ann', 'service-wide accounts'],
      [' * ', 'ann', 'service-wide accounts'],
    ]) {
      await expect(
        authenticate(`Bearer ${await signed(tenant, sub)}`),
        JSON.stringify([tenant, sub]),
      ).rejects.toMatchObject({
        message: expect.stringContaining(says) as unknown,
        extensions: { code: 'UNAUTHENTICATED' },
      });
    }
    // Names that merely look alike are ordinary subjects.
    for (const sub of ['webhooks-bot', 'provider', 'unsubscribe-link-admin', 'svc webhook:twilio', ' ann ']) {
      await expect(authenticate(`Bearer ${await signed('acme', sub)}`), sub).resolves.toMatchObject({
        subject: sub,
      });
    }
  });

  it("refuses a sub that imitates Herald's own audit actors with Unicode look-alikes or hides characters (break b13c finding 7)", async () => {
    const authenticate = createAuthenticator(parseConfig({ JWT_SECRET: SECRET }).auth);
    const key = new TextEncoder().encode(SECRET);
    const signed = (sub: string) =>
      new SignJWT({ tenant: 'acme', scope: 'admin' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(sub)
        .setExpirationTime('5m')
        .sign(key);
    for (const [sub, says] of [
      ['webhook\u200b:twilio', 'found U+200B'], // zero-width space (Cf)
      ['\u202eevil', 'found U+202E'], // right-to-left override (Cf)
      ['ann\u2066x\u2069', 'found U+2066'], // left-to-right isolate (Cf)
      ['ann\u2028bob', 'found U+2028'], // line separator (Zl)
      ['ann\u2029bob', 'found U+2029'], // paragraph separator (Zp)
      ['ann\u0085bob', 'found U+0085'], // C1 next line (Cc; C0 and DEL are refused as unstorable)
      ['webhook\uff1atwilio', 'audit actors'], // full-width colon: NFKC → ':'
      ['\uff57ebhook:twilio', 'audit actors'], // full-width w: NFKC → 'w'
      ['\uff30\uff32\uff2f\uff36\uff29\uff24\uff25\uff32:fcm', 'audit actors'], // full-width PROVIDER
      ['webhoo\u212a:twilio', 'audit actors'], // Kelvin sign: NFKC → 'K', lower case 'k'
      ['webhook\ufe0f:twilio', 'audit actors'], // variation selector (Mn, default ignorable): drawn as nothing
      ['\u3164unsubscribe-link', 'audit actors'], // Hangul filler (Lo, default ignorable)
    ]) {
      await expect(authenticate(`Bearer ${await signed(sub)}`), JSON.stringify(sub)).rejects.toMatchObject({
        message: expect.stringContaining(says) as unknown,
        extensions: { code: 'UNAUTHENTICATED' },
      });
    }
    // Ordinary non-ASCII subjects stay accepted, as they are (no normalisation of the subject itself).
    for (const sub of ['José', 'Jose\u0301', '用户1', 'Ωmega-bot', 'ann ❤\ufe0f', 'ｗebhooks-bot']) {
      await expect(authenticate(`Bearer ${await signed(sub)}`), JSON.stringify(sub)).resolves.toMatchObject({
        subject: sub,
      });
    }
  });

  it('the actors the audit writers use are the ones auth refuses', () => {
    for (const actor of [
      webhookActor('twilio'),
      webhookActor('sendgrid'),
      providerActor('twilio'),
      providerActor('fcm'),
    ])
      expect(isSystemActorName(actor), actor).toBe(true);
  });
});
