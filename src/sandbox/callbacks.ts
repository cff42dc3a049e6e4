import { randomBytes, sign } from 'node:crypto';
import twilio from 'twilio';
import { SANDBOX_ADDRESSES } from '../config/sandbox';

export interface CallbackOptions {
  /** Wait before each callback, as a provider reports some time after accepting. */
  delayMs: number;
  /** Twilio status callbacks are signed with this auth token (the account's, as Twilio does). */
  twilioAuthToken: string;
  /** The token of the account that sent a message (an added account signs its own callbacks). */
  twilioTokenFor?: (accountSid: string) => string | undefined;
  /** Where SendGrid events go; without it the emulator sends none. */
  sendgridEventsUrl?: string;
  /** ECDSA P-256 private key (PEM) SendGrid events are signed with. */
  sendgridPrivateKeyPem?: string;
}

export interface CallbackRecord {
  vendor: 'twilio' | 'sendgrid';
  url: string;
  event: string;
  status: number | 'error';
  at: string;
}

type SendgridEvent = Record<string, unknown>;

/** Where one SendGrid account's Event Webhook posts and the key it signs with (each account has its own). */
export interface SendgridEventTarget {
  url: string;
  privateKeyPem: string;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/**
 * The emulator's reports back to Herald, signed exactly as the providers sign them: Twilio status callbacks (sent,
 * then delivered, or undelivered 30003 for the reserved number) to the StatusCallback of each message, and SendGrid
 * events (processed, then delivered, or bounce for the reserved address; open and click on request).
 */
export class EmulatorCallbacks {
  readonly sent: CallbackRecord[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: CallbackOptions) {}

  private later(steps: number, action: () => Promise<void>) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action().catch(() => undefined);
    }, this.options.delayMs * steps);
    timer.unref();
    this.timers.add(timer);
  }

  private async post(
    record: Omit<CallbackRecord, 'status' | 'at'>,
    body: string,
    headers: Record<string, string>,
  ) {
    let status: number | 'error' = 'error';
    try {
      const response = await fetch(record.url, { method: 'POST', headers, body });
      status = response.status;
    } catch {
      status = 'error';
    }
    this.sent.push({ ...record, status, at: new Date().toISOString() });
  }

  twilioStatus(url: string, params: Record<string, string>): Promise<void> {
    const token =
      (params.AccountSid && this.options.twilioTokenFor?.(params.AccountSid)) || this.options.twilioAuthToken;
    const signature = twilio.getExpectedTwilioSignature(token, url, params);
    return this.post(
      { vendor: 'twilio', url, event: params.MessageStatus ?? '' },
      new URLSearchParams(params).toString(),
      {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': signature,
      },
    );
  }

  /** After Twilio accepted a message: sent, then delivered (or undelivered for the reserved number). */
  afterTwilioSend(
    request: Record<string, string | string[] | undefined>,
    response: { sid: string; account_sid: string },
  ) {
    const callback = typeof request.StatusCallback === 'string' ? request.StatusCallback : undefined;
    if (!callback) return;
    const to = String(request.To ?? '');
    const base = {
      MessageSid: response.sid,
      SmsSid: response.sid,
      AccountSid: response.account_sid,
      From: String(request.From ?? request.MessagingServiceSid ?? ''),
      To: to,
      ApiVersion: '2010-04-01',
    };
    const undelivered = to.replace(/^whatsapp:/, '') === SANDBOX_ADDRESSES.undeliveredPhone;
    this.later(1, () => this.twilioStatus(callback, { ...base, MessageStatus: 'sent', SmsStatus: 'sent' }));
    this.later(2, () =>
      this.twilioStatus(
        callback,
        undelivered
          ? {
              ...base,
              MessageStatus: 'undelivered',
              SmsStatus: 'undelivered',
              ErrorCode: '30003',
              ErrorMessage: 'Unreachable destination handset',
            }
          : { ...base, MessageStatus: 'delivered', SmsStatus: 'delivered' },
      ),
    );
  }

  /** Posts events signed as SendGrid does; `target` is an added account's own webhook (else the primary one). */
  async sendgridEvents(events: SendgridEvent[], target?: SendgridEventTarget): Promise<void> {
    const url = target?.url ?? this.options.sendgridEventsUrl;
    const key = target?.privateKeyPem ?? this.options.sendgridPrivateKeyPem;
    if (!url || !key) return;
    const body = JSON.stringify(events);
    const timestamp = String(Math.floor(Date.now() / 1000));
    // SendGrid signs timestamp + payload with ECDSA P-256 / SHA-256 and sends the DER signature in base64.
    const signature = sign('sha256', Buffer.from(timestamp + body), key).toString('base64');
    await this.post({ vendor: 'sendgrid', url, event: events.map((e) => String(e.event)).join(',') }, body, {
      'content-type': 'application/json',
      'x-twilio-email-event-webhook-signature': signature,
      'x-twilio-email-event-webhook-timestamp': timestamp,
    });
  }

  /** The event SendGrid would post about one recipient of a send, with the send's custom args flattened in. */
  static sendgridEvent(
    recipient: string,
    xMessageId: string,
    customArgs: Record<string, string>,
    event: string,
    extra: SendgridEvent = {},
  ): SendgridEvent {
    return {
      email: recipient,
      timestamp: Math.floor(Date.now() / 1000),
      event,
      sg_event_id: hex(11),
      sg_message_id: `${xMessageId}.recvd-${hex(4)}-1`,
      'smtp-id': `<${xMessageId}@sandbox.herald.dev>`,
      ...customArgs,
      ...extra,
    };
  }

  /** After SendGrid accepted a send: processed, then delivered (or bounce for the reserved address), per recipient. */
  afterSendgridSend(
    recipients: string[],
    xMessageId: string,
    customArgs: Record<string, string>,
    target?: SendgridEventTarget,
  ) {
    if (!target && !this.options.sendgridEventsUrl) return;
    const event = (recipient: string, type: string, extra?: SendgridEvent) =>
      EmulatorCallbacks.sendgridEvent(recipient, xMessageId, customArgs, type, extra);
    this.later(1, () =>
      this.sendgridEvents(
        recipients.map((r) => event(r, 'processed')),
        target,
      ),
    );
    this.later(2, () =>
      this.sendgridEvents(
        recipients.map((r) =>
          r.toLowerCase() === SANDBOX_ADDRESSES.bounceEmail
            ? event(r, 'bounce', {
                type: 'bounce',
                status: '5.1.1',
                reason: '550 5.1.1 The email account that you tried to reach does not exist',
              })
            : event(r, 'delivered', { response: '250 OK' }),
        ),
        target,
      ),
    );
  }

  stop() {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
