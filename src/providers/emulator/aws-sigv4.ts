import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';

/** A request whose body parser kept the raw bytes (SigV4 signs the payload's SHA-256). */
export type RawBodied = Request & { rawBody?: Buffer };

/** Body parser `verify` hook keeping the raw bytes for the signature check. */
export function keepRawBody(req: unknown, _res: unknown, buffer: Buffer): void {
  (req as { rawBody?: Buffer }).rawBody = buffer;
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
/** RFC 3986 unreserved characters stay; everything else is percent-encoded (SigV4's UriEncode). */
const uriEncode = (value: string) =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;

/**
 * Why a request's AWS Signature Version 4 does not verify with `secretOf(accessKeyId)`, or undefined when it does
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html): the canonical request (method, path
 * as the client sent it, sorted query, the signed headers, the payload's SHA-256), the string to sign with
 * X-Amz-Date and the credential scope, and the signing key derived from the secret. Answers are AWS's own:
 * `unknown` for a key id the emulator does not know (UnrecognizedClientException / InvalidClientTokenId),
 * `signature` for a signature that does not match (SignatureDoesNotMatch).
 */
export function sigv4Problem(
  req: RawBodied,
  secretOf: (accessKeyId: string) => string | undefined,
): { kind: 'unknown' | 'signature'; accessKeyId?: string } | undefined {
  const match = AUTHORIZATION.exec(req.headers.authorization ?? '');
  if (!match) return { kind: 'unknown' };
  const [, accessKeyId, day, region, service, signedHeaders, signature] = match;
  const secret = secretOf(accessKeyId);
  if (secret === undefined) return { kind: 'unknown', accessKeyId };
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!amzDate.startsWith(day)) return { kind: 'signature', accessKeyId };
  const url = new URL(req.originalUrl, 'http://emulator');
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? sha256(req.rawBody ?? Buffer.alloc(0)));
  const scope = `${day}/${region}/${service}/aws4_request`;
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
  const given = Buffer.from(signature);
  const matchesWithHost = (host: string | undefined) => {
    const headers = signedHeaders
      .split(';')
      .map((name) => {
        const value = name === 'host' ? host : req.headers[name];
        const text = Array.isArray(value) ? value.join(',') : (value ?? '');
        return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`;
      })
      .join('');
    const canonical = [req.method, canonicalPath(url.pathname), query, headers, signedHeaders, payloadHash];
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical.join('\n'))].join('\n');
    const expected = Buffer.from(hmac(key, toSign).toString('hex'));
    return expected.length === given.length && timingSafeEqual(expected, given);
  };
  // The SDK signed PUBLIC_URL's host; a reverse proxy in front of a sandbox may pass it on as X-Forwarded-Host.
  const forwarded = req.headers['x-forwarded-host'];
  const verified =
    matchesWithHost(req.headers.host) ||
    (typeof forwarded === 'string' && matchesWithHost(forwarded.split(',')[0].trim()));
  return verified ? undefined : { kind: 'signature', accessKeyId };
}

/**
 * The path as the SDK signs it for every service but S3 (@smithy/signature-v4 `getCanonicalPath`, uriEscapePath):
 * empty and `.` segments dropped, `..` removing the one before, then URI-encoded once more with `/` kept.
 */
function canonicalPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return uriEncode(`${path.startsWith('/') ? '/' : ''}${segments.join('/')}${trailing}`).replace(/%2F/g, '/');
}
