import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a one-click unsubscribe link stands for. */
export interface UnsubscribeClaim {
  tenantId: string;
  userId: string;
  typeKey: string;
  address: string;
  messageId: string;
}

const sign = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('base64url');

/** An opaque, signed token: base64url(JSON) "." HMAC-SHA256. It cannot be forged or altered without the secret. */
export function createUnsubscribeToken(secret: string, claim: UnsubscribeClaim): string {
  const body = Buffer.from(
    JSON.stringify([claim.tenantId, claim.userId, claim.typeKey, claim.address, claim.messageId]),
  ).toString('base64url');
  return `${body}.${sign(secret, body)}`;
}

export function readUnsubscribeToken(secret: string, token: string): UnsubscribeClaim | undefined {
  const [body, signature] = token.split('.');
  if (!body || !signature) return undefined;
  const expected = Buffer.from(sign(secret, body));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
  try {
    const [tenantId, userId, typeKey, address, messageId] = JSON.parse(
      Buffer.from(body, 'base64url').toString('utf8'),
    ) as string[];
    if (!tenantId || !userId || !typeKey || !address || !messageId) return undefined;
    return { tenantId, userId, typeKey, address, messageId };
  } catch {
    return undefined;
  }
}
