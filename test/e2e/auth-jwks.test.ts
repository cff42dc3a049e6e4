import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotificationTypesDocument } from '../support/generated/graphql';
import { execute } from '../support/graphql';
import { startStack, type TestStack } from '../support/stack';

/** Tokens signed by an identity provider's key, verified against its JWKS endpoint. */
describe('auth (JWKS)', () => {
  let stack: TestStack;
  let jwksServer: Server;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
    jwksServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const { port } = jwksServer.address() as AddressInfo;
    stack = await startStack({
      extraEnv: {
        JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
        JWT_ISSUER: 'https://idp.example.com',
        JWT_AUDIENCE: 'herald',
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
    jwksServer?.close();
  });

  const sign = (claims: { iss: string; aud: string }) =>
    new SignJWT({ tenant: 'acme', scope: 'communication:read' })
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
      .setSubject('svc')
      .setIssuer(claims.iss)
      .setAudience(claims.aud)
      .setExpirationTime('5m')
      .sign(privateKey);

  it('accepts a token signed by a JWKS key with the expected issuer and audience', async () => {
    const result = await execute(
      stack.url,
      NotificationTypesDocument,
      {},
      await sign({ iss: 'https://idp.example.com', aud: 'herald' }),
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.notificationTypes).toEqual([]);
  });

  it('refuses the wrong issuer or audience', async () => {
    for (const claims of [
      { iss: 'https://evil.example.com', aud: 'herald' },
      { iss: 'https://idp.example.com', aud: 'other' },
    ]) {
      const result = await execute(stack.url, NotificationTypesDocument, {}, await sign(claims));
      expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
  });
});
