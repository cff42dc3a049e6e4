import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { awsClientOptions, classifyAwsError } from './aws-error';
import type { ChannelProvider, SendContext, SendResult, TextPayload } from './provider.types';

export interface SnsOptions {
  mode: 'live' | 'sandbox';
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Replaces https://sns.<region>.amazonaws.com (sandbox emulator, staging emulators). */
  apiUrl?: string;
  timeoutMs: number;
}

/**
 * AWS SNS Publish to a phone number, the second SMS provider (SMS_PROVIDERS=twilio,sns). SNS sends text only, so media
 * URLs travel as links at the end of the text; messages are marked Transactional (higher delivery priority).
 */
export class SnsProvider implements ChannelProvider<'SMS'> {
  readonly id = 'sns' as const;
  readonly channel = 'SMS' as const;
  private readonly client: SNSClient;

  constructor(private readonly options: SnsOptions) {
    this.client = new SNSClient(awsClientOptions(options));
  }

  get mode() {
    return this.options.mode;
  }

  async send(payload: TextPayload, ctx: SendContext): Promise<SendResult> {
    const text = [payload.body, ...(payload.mediaUrls ?? [])].filter(Boolean).join('\n');
    try {
      const result = await this.client.send(
        new PublishCommand({
          PhoneNumber: payload.to,
          Message: text,
          MessageAttributes: {
            'AWS.SNS.SMS.SMSType': { DataType: 'String', StringValue: 'Transactional' },
          },
        }),
      );
      return { providerMessageId: result.MessageId ?? ctx.messageId };
    } catch (error) {
      throw classifyAwsError(error, 'SNS');
    }
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}
