import { z } from 'zod';
import { SANDBOX } from './sandbox';
import {
  blankToUndefined,
  intWithDefault,
  optionalString,
  optionalUrl,
  type ChannelMode,
} from './zod-helpers';

/**
 * Second providers (AWS SES for email, AWS SNS for SMS), the provider order per channel and the circuit breaker.
 * Parsed by env.ts, which owns process.env; this file only holds the models and how they become settings.
 */
/** "sendgrid,ses" → ['sendgrid', 'ses'], each name checked against the channel's providers, no repeats. */
const providerList = <T extends string>(names: readonly [T, ...T[]], fallback: T) =>
  z.preprocess(
    (value) =>
      typeof value === 'string' && value.trim() !== ''
        ? value.split(',').map((name) => name.trim().toLowerCase())
        : [fallback],
    z
      .array(z.enum(names, { error: `each name must be one of ${names.join(', ')}` }))
      .min(1)
      .refine((list) => new Set(list).size === list.length, 'a provider may be named only once'),
  );

export const routingModel = z.object({
  AWS_REGION: z.preprocess(blankToUndefined, z.string().default('us-east-1')),
  AWS_ACCESS_KEY_ID: optionalString,
  AWS_SECRET_ACCESS_KEY: optionalString,
  SES_API_URL: optionalUrl,
  SNS_API_URL: optionalUrl,
  EMAIL_PROVIDERS: providerList(['sendgrid', 'ses'] as const, 'sendgrid'),
  SMS_PROVIDERS: providerList(['twilio', 'sns'] as const, 'twilio'),
  /** Consecutive retryable failures of one provider, counted per process, that open its circuit for everyone. */
  CIRCUIT_FAILURE_THRESHOLD: intWithDefault(5, 1),
  /** How long an open circuit stays open before one trial request is let through (ms). */
  CIRCUIT_HALF_OPEN_AFTER_MS: intWithDefault(30_000, 100),
});

export interface AwsSettings {
  mode: ChannelMode;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sesApiUrl?: string;
  snsApiUrl?: string;
}

export interface RoutingSettings {
  /** Provider ids in order, first = primary. */
  email: ('sendgrid' | 'ses')[];
  sms: ('twilio-sms' | 'sns')[];
  circuit: { failureThreshold: number; halfOpenAfterMs: number };
}

export function awsAndRouting(
  parsed: z.infer<typeof routingModel>,
  context: { production: boolean; sandboxUrl: (vendor: string) => string; emailFrom?: string },
  problems: string[],
): { aws: AwsSettings; routing: RoutingSettings } {
  const hasCreds = Boolean(parsed.AWS_ACCESS_KEY_ID ?? parsed.AWS_SECRET_ACCESS_KEY);
  if (hasCreds && !(parsed.AWS_ACCESS_KEY_ID && parsed.AWS_SECRET_ACCESS_KEY)) {
    problems.push('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: give both or neither');
  }
  const mode: ChannelMode = hasCreds ? 'live' : context.production ? 'disabled' : 'sandbox';
  const wantsAws = parsed.EMAIL_PROVIDERS.includes('ses') || parsed.SMS_PROVIDERS.includes('sns');
  if (wantsAws && mode === 'disabled') {
    problems.push(
      'EMAIL_PROVIDERS/SMS_PROVIDERS: ses and sns need AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  }
  if (mode === 'live' && parsed.EMAIL_PROVIDERS.includes('ses') && !context.emailFrom) {
    problems.push('EMAIL_FROM: required when EMAIL_PROVIDERS names ses with AWS credentials');
  }
  const aws: AwsSettings =
    mode === 'live'
      ? {
          mode,
          region: parsed.AWS_REGION,
          accessKeyId: parsed.AWS_ACCESS_KEY_ID!,
          secretAccessKey: parsed.AWS_SECRET_ACCESS_KEY!,
          sesApiUrl: parsed.SES_API_URL,
          snsApiUrl: parsed.SNS_API_URL,
        }
      : {
          mode,
          region: parsed.AWS_REGION,
          ...SANDBOX.aws,
          sesApiUrl: parsed.SES_API_URL ?? context.sandboxUrl('ses'),
          snsApiUrl: parsed.SNS_API_URL ?? context.sandboxUrl('sns'),
        };
  return {
    aws,
    routing: {
      email: parsed.EMAIL_PROVIDERS,
      sms: parsed.SMS_PROVIDERS.map((name) => (name === 'twilio' ? 'twilio-sms' : name)),
      circuit: {
        failureThreshold: parsed.CIRCUIT_FAILURE_THRESHOLD,
        halfOpenAfterMs: parsed.CIRCUIT_HALF_OPEN_AFTER_MS,
      },
    },
  };
}
