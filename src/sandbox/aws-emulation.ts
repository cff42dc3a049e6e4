import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import { SANDBOX_ADDRESSES } from '../config/sandbox';
import { sigv4Problem } from './aws-sigv4';

/** What the emulator answers: status, body (JSON value, or text with its content type) and headers. */
export interface AwsAnswer {
  status: number;
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface AwsFault {
  status?: number;
  code?: string | number;
  retryAfterSeconds?: number;
}

/** The secret of an access key the emulator knows (the sandbox key and tenants' registered ones), else undefined. */
export type AwsSecretOf = (accessKeyId: string) => string | undefined;

/** The access key id of a SigV4 Authorization header (`AWS4-HMAC-SHA256 Credential=AKIA…/date/region/svc/…`). */
export function accessKeyOf(req: Request): string | undefined {
  return /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1];
}

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.';

/** AWS's answer to a signature outside its 15-minute window (aws-sigv4.ts), without AWS's exact times. */
const SIGNATURE_EXPIRED = 'Signature expired: X-Amz-Date is more than 15 minutes from the current time.';

const retryHeaders = (fault: AwsFault) =>
  fault.retryAfterSeconds ? { 'Retry-After': String(fault.retryAfterSeconds) } : undefined;

function sesError(
  status: number,
  type: string,
  message: string,
  headers?: Record<string, string>,
): AwsAnswer {
  return { status, body: { message }, headers: { 'x-amzn-ErrorType': type, ...headers } };
}

/** SES's refusal of a request not signed by a known key with its secret, or undefined. */
async function sesAuthRefusal(req: Request, secretOf: AwsSecretOf): Promise<AwsAnswer | undefined> {
  const problem = await sigv4Problem(req, secretOf);
  if (!problem) return undefined;
  if (problem.kind === 'expired') return sesError(403, 'InvalidSignatureException', SIGNATURE_EXPIRED);
  return problem.kind === 'unknown'
    ? sesError(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.')
    : sesError(403, 'SignatureDoesNotMatch', SIGNATURE_MISMATCH);
}

/**
 * SES v2 GetAccount (GET /v2/email/account): the cheapest authenticated call, used to validate a tenant's SES
 * config. The emulated account is out of the SES sandbox and sending is enabled.
 */
export async function sesGetAccount(req: Request, secretOf: AwsSecretOf): Promise<AwsAnswer> {
  return (
    (await sesAuthRefusal(req, secretOf)) ?? {
      status: 200,
      body: {
        DedicatedIpAutoWarmupEnabled: false,
        EnforcementStatus: 'HEALTHY',
        ProductionAccessEnabled: true,
        SendQuota: { Max24HourSend: 50_000, MaxSendRate: 14, SentLast24Hours: 0 },
        SendingEnabled: true,
      },
    }
  );
}

/** SES v2 SendEmail (REST-JSON): POST /v2/email/outbound-emails, signed by a known key (SigV4 verified). */
export async function sesSendEmail(
  req: Request,
  secretOf: AwsSecretOf,
  fault?: AwsFault,
): Promise<AwsAnswer> {
  const refused = await sesAuthRefusal(req, secretOf);
  if (refused) return refused;
  if (fault?.status) {
    const type =
      fault.code !== undefined
        ? String(fault.code)
        : fault.status === 429
          ? 'TooManyRequestsException'
          : fault.status >= 500
            ? 'InternalFailure'
            : 'BadRequestException';
    return sesError(fault.status, type, 'Injected fault', retryHeaders(fault));
  }
  const body = req.body as {
    FromEmailAddress?: string;
    Destination?: { ToAddresses?: string[] };
    Content?: { Simple?: { Subject?: { Data?: string } } };
  };
  if (!body?.Destination?.ToAddresses?.length) {
    return sesError(400, 'BadRequestException', 'Missing required parameter: Destination.ToAddresses');
  }
  if (!body.FromEmailAddress) {
    return sesError(400, 'BadRequestException', 'Missing required parameter: FromEmailAddress');
  }
  return { status: 200, body: { MessageId: `0100${randomUUID().replace(/-/g, '')}-000000` } };
}

function snsXml(status: number, xml: string, headers?: Record<string, string>): AwsAnswer {
  return { status, body: xml, contentType: 'text/xml', headers };
}

function snsError(
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): AwsAnswer {
  const type = status >= 500 ? 'Receiver' : 'Sender';
  return snsXml(
    status,
    `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
    headers,
  );
}

/** SNS's refusal of a request not signed by a known key with its secret, or undefined. */
async function snsAuthRefusal(req: Request, secretOf: AwsSecretOf): Promise<AwsAnswer | undefined> {
  const problem = await sigv4Problem(req, secretOf);
  if (!problem) return undefined;
  if (problem.kind === 'expired') return snsError(403, 'SignatureDoesNotMatch', SIGNATURE_EXPIRED);
  return problem.kind === 'unknown'
    ? snsError(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.')
    : snsError(403, 'SignatureDoesNotMatch', SIGNATURE_MISMATCH);
}

/**
 * SNS GetSMSAttributes (Action=GetSMSAttributes): a cheap authenticated read, used to validate a tenant's SNS config.
 */
export async function snsGetSmsAttributes(req: Request, secretOf: AwsSecretOf): Promise<AwsAnswer> {
  return (
    (await snsAuthRefusal(req, secretOf)) ??
    snsXml(
      200,
      `<GetSMSAttributesResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><GetSMSAttributesResult><attributes><entry><key>DefaultSMSType</key><value>Transactional</value></entry></attributes></GetSMSAttributesResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></GetSMSAttributesResponse>`,
    )
  );
}

/** SNS Publish to a phone number (AWS Query protocol): POST / with Action=Publish, signed by a known key. */
export async function snsPublish(req: Request, secretOf: AwsSecretOf, fault?: AwsFault): Promise<AwsAnswer> {
  const refused = await snsAuthRefusal(req, secretOf);
  if (refused) return refused;
  const body = req.body as Record<string, string | undefined>;
  if (body.Action !== 'Publish') return snsError(400, 'InvalidAction', `${body.Action} is not emulated`);
  if (fault?.status) {
    const code =
      fault.code !== undefined
        ? String(fault.code)
        : fault.status === 429 || fault.status === 400
          ? 'Throttling'
          : 'InternalError';
    return snsError(fault.status, code, 'Injected fault', retryHeaders(fault));
  }
  // SNS Publish takes PhoneNumber "in E.164 format" (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html):
  // "+", a country code not starting with 0, at most 15 digits (ITU-T E.164). The emulator checks the shape, as SNS.
  if (!body.PhoneNumber || !/^\+[1-9]\d{6,14}$/.test(body.PhoneNumber)) {
    return snsError(
      400,
      'InvalidParameter',
      'Invalid parameter: PhoneNumber Reason: not a valid E.164 number',
    );
  }
  if (body.PhoneNumber === SANDBOX_ADDRESSES.rejectedPhone) {
    return snsError(
      400,
      'InvalidParameter',
      `Invalid parameter: PhoneNumber Reason: ${body.PhoneNumber} is not valid`,
    );
  }
  if (!body.Message) return snsError(400, 'InvalidParameter', 'Invalid parameter: Message');
  return snsXml(
    200,
    `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${randomUUID()}</MessageId></PublishResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`,
  );
}

/**
 * SES v2's answer to a SendEmail body the emulator's parser refused: past its 40 MB parser limit, SES's maximum
 * message size ("40 MB", https://docs.aws.amazon.com/ses/latest/dg/quotas.html) is exceeded; a body that is not JSON
 * is the REST-JSON protocol's SerializationException.
 */
export function sesUnparseable(error: { type?: string }): AwsAnswer {
  return error.type === 'entity.too.large'
    ? sesError(400, 'MessageRejected', 'Message length is more than 40 MB.')
    : sesError(400, 'SerializationException', 'The request body could not be parsed.');
}

/**
 * SNS's answer to a Publish form the emulator's parser refused: past its 1 MB parser limit the Message is far over
 * SNS's 256 KB ("Invalid parameter: Message too long", https://docs.aws.amazon.com/sns/latest/api/API_Publish.html);
 * anything else unreadable is the Query protocol's MalformedQueryString.
 */
export function snsUnparseable(error: { type?: string }): AwsAnswer {
  return error.type === 'entity.too.large'
    ? snsError(400, 'InvalidParameter', 'Invalid parameter: Message too long')
    : snsError(400, 'MalformedQueryString', 'The query string could not be parsed.');
}
