import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Request } from 'express';

/** What the signature check reads of a request; the body parser's `verify` hook kept its raw bytes. */
export type SignedRequest = Pick<Request, 'method' | 'originalUrl' | 'headers'> & { rawBody?: Buffer };

/** Body parser `verify` hook keeping the raw bytes for the signature check (SigV4 signs the payload's SHA-256). */
export function keepRawBody(req: unknown, _res: unknown, buffer: Buffer): void {
  (req as { rawBody?: Buffer }).rawBody = buffer;
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;
/** X-Amz-Date, ISO 8601 basic format in UTC: `20150830T123600Z`. */
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const PAYLOAD_HASH_HEADER = 'x-amz-content-sha256';

/**
 * Why a request's AWS Signature Version 4 does not verify with `secretOf(accessKeyId)`, or undefined when it does
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html). The Authorization header gives the
 * credential scope (key id, day, region, service), SignedHeaders and Signature; the request is rebuilt with the
 * method, path, query, body and exactly the signed headers, and signed again with the key's secret by
 * @smithy/signature-v4, the AWS SDK's own signer
 * (https://github.com/smithy-lang/smithy-typescript/tree/main/packages/signature-v4): canonical request, string to
 * sign and signing key are the library's, so the emulator agrees with what the SDK sends. The signing time is
 * X-Amz-Date, which must be within 15 minutes of `now` either way, as AWS requires ("the signed portions … must
 * arrive at AWS within 15 minutes of the timestamp in the request", "Signature expired" otherwise:
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/signing-elements.html#signing-elements-timestamp): `expired`, so
 * a captured request cannot be replayed later; the payload hash is X-Amz-Content-Sha256 when
 * the client sent it (the AWS SDK does), which must then be the body's SHA-256 (S3 refuses a body that does not match,
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html), else the body's.
 * Answers are AWS's own: `unknown` for a missing or malformed Authorization header or a key id the emulator does
 * not know (UnrecognizedClientException / InvalidClientTokenId), `signature` for a signature that does not match
 * (SignatureDoesNotMatch). Host is tried as received, then as X-Forwarded-Host (a proxy in front of a sandbox).
 * Not supported, as the AWS SDK never sends them: a signed `Date` header (the library replaces it with X-Amz-Date),
 * presigned query-string signatures, SigV4a.
 */
export async function sigv4Problem(
  req: SignedRequest,
  secretOf: (accessKeyId: string) => string | undefined,
  now: Date = new Date(),
): Promise<{ kind: 'unknown' | 'signature' | 'expired'; accessKeyId?: string } | undefined> {
  const match = AUTHORIZATION.exec(req.headers.authorization ?? '');
  if (!match) return { kind: 'unknown' };
  const [, accessKeyId, day, region, service, signedHeaders, signature] = match;
  const secretAccessKey = secretOf(accessKeyId);
  if (secretAccessKey === undefined) return { kind: 'unknown', accessKeyId };
  const mismatch = { kind: 'signature' as const, accessKeyId };
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate || !amzDate.startsWith(day)) return mismatch;
  if (Math.abs(now.getTime() - signingDate.getTime()) > SIGNATURE_WINDOW_MS) {
    return { kind: 'expired', accessKeyId };
  }
  const body = req.rawBody ?? Buffer.alloc(0);
  const declaredHash = req.headers[PAYLOAD_HASH_HEADER];
  if (typeof declaredHash === 'string' && /^[0-9a-f]{64}$/.test(declaredHash)) {
    if (declaredHash !== createHash('sha256').update(body).digest('hex')) return mismatch;
  }

  const url = new URL(req.originalUrl, 'http://emulator');
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of url.searchParams) {
    const before = query[name];
    query[name] = before === undefined ? value : [before, value].flat();
  }
  const names = signedHeaders.split(';');
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey },
    region,
    service,
    sha256: NodeSha256,
    // SigV4 for every service but S3: the path is normalised and URI-encoded once more (the SDK's default too).
    uriEscapePath: true,
    // No X-Amz-Content-Sha256 of the signer's own: only what the client sent is signed.
    applyChecksum: false,
  });
  const given = Buffer.from(signature);
  const matchesWithHost = async (host: string | undefined) => {
    const headers: Record<string, string> = {};
    for (const name of names) {
      const value = name === 'host' ? host : req.headers[name];
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    // The payload hash the client declared counts even when it did not sign that header (the library reads it
    // from the headers; marked unsignable, it stays out of the canonical headers).
    if (typeof declaredHash === 'string') headers[PAYLOAD_HASH_HEADER] = declaredHash;
    const signed = await signer.sign(
      {
        method: req.method,
        protocol: 'http:',
        hostname: host ?? '',
        path: url.pathname,
        query,
        headers,
        body,
      },
      {
        signingDate,
        // Headers the library never signs of its own accord (user-agent, expect, proxy-*…) are signed when the
        // client signed them; the payload hash header is left out when it did not.
        signableHeaders: new Set(names),
        unsignableHeaders: names.includes(PAYLOAD_HASH_HEADER) ? undefined : new Set([PAYLOAD_HASH_HEADER]),
      },
    );
    const ours = AUTHORIZATION.exec(String(signed.headers.authorization));
    // Every header the client signed must be present and signed here too, with nothing added (x-amz-date is).
    if (!ours || ours[5] !== signedHeaders) return false;
    const expected = Buffer.from(ours[6]);
    return expected.length === given.length && timingSafeEqual(expected, given);
  };
  // The SDK signed PUBLIC_URL's host; a reverse proxy in front of a sandbox may pass it on as X-Forwarded-Host.
  const forwarded = req.headers['x-forwarded-host'];
  const verified =
    (await matchesWithHost(req.headers.host)) ||
    (typeof forwarded === 'string' && (await matchesWithHost(forwarded.split(',')[0].trim())));
  return verified ? undefined : mismatch;
}

/** X-Amz-Date as a Date, or undefined when it is not a real UTC time in `YYYYMMDDTHHMMSSZ`. */
/** How far X-Amz-Date may be from the emulator's clock, either way (AWS: 15 minutes; see sigv4Problem). */
export const SIGNATURE_WINDOW_MS = 15 * 60_000;

function parseAmzDate(text: string): Date | undefined {
  const parts = AMZ_DATE.exec(text);
  if (!parts) return undefined;
  const [year, month, dayOfMonth, hours, minutes, seconds] = parts.slice(1).map(Number);
  const date = new Date(Date.UTC(year, month - 1, dayOfMonth, hours, minutes, seconds));
  // Date.UTC rolls 20150231 over into March; the signer would then sign another day than the client did.
  const roundTrip = date.toISOString().replace(/[-:]|\.\d{3}/g, '');
  return roundTrip === text ? date : undefined;
}

/**
 * SHA-256, or HMAC-SHA256 keyed with `secret`, from node:crypto in the shape the signer takes (a @smithy/types
 * Checksum constructor; the SDK's own is @smithy/hash-node, not installed here).
 */
class NodeSha256 {
  private readonly hash: Hash | Hmac;

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash =
      secret === undefined
        ? createHash('sha256')
        : createHmac('sha256', typeof secret === 'string' ? secret : toBytes(secret));
  }

  update(data: Uint8Array): void {
    this.hash.update(data);
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}

function toBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}
