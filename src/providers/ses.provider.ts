import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { awsClientOptions, classifyAwsError } from './aws-error';
import type { ChannelProvider, EmailPayload, SendContext, SendResult } from './provider.types';

export interface SesOptions {
  mode: 'live' | 'sandbox';
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  from: string;
  /** Replaces https://email.<region>.amazonaws.com (sandbox emulator, staging emulators). */
  apiUrl?: string;
  timeoutMs: number;
}

/** The email tag that carries our message id (SES event destinations report tags back). */
export const SES_MESSAGE_ID_TAG = 'herald_message_id';

/** AWS SES v2 SendEmail, the second email provider (EMAIL_PROVIDERS=sendgrid,ses). */
export class SesProvider implements ChannelProvider<'EMAIL'> {
  readonly id = 'ses' as const;
  readonly channel = 'EMAIL' as const;
  private readonly client: SESv2Client;

  constructor(private readonly options: SesOptions) {
    this.client = new SESv2Client(awsClientOptions(options));
  }

  get mode() {
    return this.options.mode;
  }

  async send(payload: EmailPayload, ctx: SendContext): Promise<SendResult> {
    const body = {
      ...(payload.text ? { Text: { Data: payload.text, Charset: 'UTF-8' } } : {}),
      ...(payload.html ? { Html: { Data: payload.html, Charset: 'UTF-8' } } : {}),
    };
    try {
      const result = await this.client.send(
        new SendEmailCommand({
          FromEmailAddress: this.options.from,
          Destination: {
            ToAddresses: [payload.to],
            ...(payload.cc?.length ? { CcAddresses: payload.cc } : {}),
            ...(payload.bcc?.length ? { BccAddresses: payload.bcc } : {}),
          },
          Content: {
            Simple: {
              Subject: { Data: payload.subject, Charset: 'UTF-8' },
              Body: body,
              ...(payload.headers
                ? { Headers: Object.entries(payload.headers).map(([Name, Value]) => ({ Name, Value })) }
                : {}),
              ...(payload.attachments?.length
                ? {
                    Attachments: payload.attachments.map((a) => ({
                      RawContent: Buffer.from(a.content, 'base64'),
                      FileName: a.filename,
                      ContentType: a.type,
                      ContentDisposition: a.disposition === 'inline' ? 'INLINE' : 'ATTACHMENT',
                      ContentId: a.contentId,
                    })),
                  }
                : {}),
            },
          },
          EmailTags: [
            { Name: SES_MESSAGE_ID_TAG, Value: ctx.messageId },
            { Name: 'herald_tenant_id', Value: ctx.tenantId.replace(/[^\w-]/g, '_') },
          ],
        }),
      );
      return { providerMessageId: result.MessageId ?? ctx.messageId };
    } catch (error) {
      throw classifyAwsError(error, 'SES');
    }
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}
