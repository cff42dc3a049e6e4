import { isRetryableStatus, networkError, parseRetryAfter, ProviderError } from './provider.types';

/** AWS error names that mean "slow down", whatever HTTP status carries them (SNS answers throttling with 400). */
const THROTTLING = /Throttl|TooManyRequests|LimitExceeded|SlowDown/;

/**
 * AWS error names that refuse the ACCOUNT or its credentials, not the message: the common errors of every AWS API
 * (https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html and the SES v2 equivalent: AccessDeniedException,
 * IncompleteSignature, InvalidClientTokenId, MissingAuthenticationToken, SignatureDoesNotMatch, ExpiredToken…,
 * UnrecognizedClientException from the JSON protocols, InvalidAccessKeyId / AccessDenied from the query ones), SNS's
 * AuthorizationError (the identity may not publish), and SES's account state (SES v2 SendEmail errors,
 * https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html: AccountSuspendedException,
 * SendingPausedException, MailFromDomainNotVerifiedException; SES v1: AccountSendingPausedException).
 */
export const AWS_ACCOUNT_REFUSED = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'AccessDenied',
  'AccessDeniedException',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidAccessKeyId',
  'AuthorizationError',
  'AccountSuspendedException',
  'SendingPausedException',
  'AccountSendingPausedException',
  'MailFromDomainNotVerifiedException',
]);

/**
 * SES's MessageRejected when an identity of the message is not verified in the account's region: "Email address is
 * not verified. The following identities failed the check in region US-EAST-1: …"
 * (https://repost.aws/knowledge-center/ses-554-400-message-rejected-error). The From address (or its domain) is not a
 * verified identity of the account (https://docs.aws.amazon.com/ses/latest/dg/verify-addresses-and-domains.html), or
 * the account is still in the SES sandbox and the recipient is not verified either: both are the account's state,
 * another account may send the message, so it counts as the config's refusal like AWS_ACCOUNT_REFUSED. Other
 * MessageRejected answers (content, size) are the message's.
 */
const SES_IDENTITY_NOT_VERIFIED = /\bnot verified\b/i;

const isAccountRefusal = (name: string, message: string | undefined): boolean =>
  AWS_ACCOUNT_REFUSED.has(name) ||
  (name === 'MessageRejected' && SES_IDENTITY_NOT_VERIFIED.test(message ?? ''));

/**
 * Classifies an AWS SDK v3 service exception (or a network failure) once, for SES and SNS alike: throttling and 5xx
 * are retryable, other 4xx (MessageRejected, InvalidParameter…) are not; AWS_ACCOUNT_REFUSED names and an unverified
 * SES identity are account refusals (not retryable, `accountRefused`); the AWS error name becomes the code.
 */
export function classifyAwsError(error: unknown, vendor: string): ProviderError {
  const network = networkError(error);
  if (network) return network;
  const service = error as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $response?: { headers?: Record<string, string> };
  };
  const status = service.$metadata?.httpStatusCode;
  if (typeof status === 'number') {
    const name = service.name ?? String(status);
    const accountRefused = isAccountRefusal(name, service.message);
    const retryable = !accountRefused && (THROTTLING.test(name) || isRetryableStatus(status));
    return new ProviderError(service.message || `${vendor} error`, name, retryable, {
      status,
      retryAfterMs: parseRetryAfter(service.$response?.headers?.['retry-after']),
      invalidAddress: name.startsWith('InvalidParameter') && /phone/i.test(service.message ?? ''),
      ...(accountRefused ? { accountRefused: true } : {}),
    });
  }
  if ((error as Error)?.name === 'TimeoutError') {
    return new ProviderError(`${vendor} request timed out`, 'ETIMEDOUT', true);
  }
  return new ProviderError((error as Error)?.message ?? `${vendor} error`, 'UNKNOWN', true);
}

/** The SDK options both AWS adapters share: our retries only, our timeout, optional endpoint override. */
export function awsClientOptions(options: {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  apiUrl?: string;
  timeoutMs: number;
}) {
  return {
    region: options.region,
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    ...(options.apiUrl ? { endpoint: options.apiUrl.replace(/\/$/, '') } : {}),
    // Herald counts attempts in PostgreSQL and fails over between providers; the SDK must not retry on its own.
    maxAttempts: 1,
    requestHandler: {
      requestTimeout: options.timeoutMs,
      connectionTimeout: options.timeoutMs,
      // Without it the handler only logs a warning and keeps waiting.
      throwOnRequestTimeout: true,
    },
  };
}
