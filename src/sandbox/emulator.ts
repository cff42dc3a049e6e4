import { randomBytes, randomUUID } from 'node:crypto';
import express, { type RequestHandler, type Request, type Response, type Router } from 'express';
import { SegmentedMessage } from 'sms-segments-calculator';
import { SANDBOX, SANDBOX_ADDRESSES } from '../config/sandbox';
import {
  accessKeyOf,
  sesGetAccount,
  sesSendEmail,
  sesUnparseable,
  snsGetSmsAttributes,
  snsPublish,
  snsUnparseable,
} from './aws-emulation';
import { keepRawBody } from './aws-sigv4';
import { FcmTokenIssuer, tokenUrisOf } from './fcm-oauth';
import {
  AccountConflictError,
  EmulatedAccounts,
  parseRegistration,
  type AccountRegistration,
} from './accounts';
import { EmulatorCallbacks, type CallbackOptions } from './callbacks';
import { forRecording, MAX_RECORDED_BYTES } from './recording-budget';
import { redactBody, redactHeaders } from './recording-redaction';
import { sendgridMailRefusal } from './sendgrid-mail';
import {
  fcmLimitRefusal,
  fcmTargetRefusal,
  fcmUnparseable,
  mediaKept,
  sendgridSizeRefusal,
  sendgridUnparseable,
  twilioError,
  twilioLimitRefusal,
  twilioUnparseable,
  type ParserRefusal,
} from './vendor-refusals';
import { contentRefusal, WhatsappEmulation } from './twilio-whatsapp';

interface SendgridMailBody {
  personalizations?: { to?: { email?: string }[] }[];
  from?: { email?: string };
  custom_args?: Record<string, string>;
}

export type EmulatedVendor = 'twilio' | 'sendgrid' | 'fcm' | 'ses' | 'sns';
const VENDORS = ['twilio', 'sendgrid', 'fcm', 'ses', 'sns', '*'];

export interface RecordedRequest {
  id: string;
  vendor: EmulatedVendor;
  method: string;
  path: string;
  /** The request's headers, credentials redacted (recording-redaction.ts: `Basic <AccountSid>:***`, …). */
  headers: Record<string, string>;
  /**
   * Parsed body: form fields for Twilio, JSON for SendGrid and FCM. Strings over 16 KiB are kept cut, with a marker
   * giving their original length (recording-budget.ts); credential-named fields are `***`.
   */
  body: unknown;
  status: number;
  response: unknown;
  responseHeaders?: Record<string, string>;
  receivedAt: string;
}

/** A fault to inject into the next `count` requests to a vendor (or every vendor with '*'). */
export interface Fault {
  vendor: EmulatedVendor | '*';
  count: number;
  /** HTTP status to answer with (503, 429, 400…); omitted = answer normally after the delay. */
  status?: number;
  /** Vendor error code in the body (e.g. Twilio 21610, FCM UNREGISTERED). */
  code?: string | number;
  /** Delay before answering: longer than the client's timeout emulates a timeout. */
  delayMs?: number;
  retryAfterSeconds?: number;
  /**
   * Only requests of this account: a Twilio account SID (in the request path), a SendGrid API key (the bearer), an
   * AWS access key id (SigV4 credential) or a Firebase project id (in the path), so one tenant's own account can fail
   * while the others answer (issue 13). Omitted = every account.
   */
  account?: string;
}

export interface EmulatorCredentials {
  twilio: { accountSid: string; authToken: string };
  sendgrid: { apiKey: string };
  /** The service-wide sandbox project and its fixed token (which sends for that project only). */
  fcm: { accessToken: string; projectId: string };
  aws: { accessKeyId: string; secretAccessKey: string };
}

export const SANDBOX_EMULATOR_CREDENTIALS: EmulatorCredentials = {
  twilio: { accountSid: SANDBOX.twilio.accountSid, authToken: SANDBOX.twilio.authToken },
  sendgrid: { apiKey: SANDBOX.sendgrid.apiKey },
  fcm: { accessToken: SANDBOX.fcm.accessToken, projectId: SANDBOX.fcm.projectId },
  aws: { accessKeyId: SANDBOX.aws.accessKeyId, secretAccessKey: SANDBOX.aws.secretAccessKey },
};

/** Recordings kept at most (and Twilio messages kept for price look-ups); MAX_RECORDED_BYTES caps them too. */
const MAX_RECORDINGS = 10_000;

/**
 * What the emulated Twilio charges per segment (USD). Deliberately not Herald's default estimate (0.0079), so a
 * sandbox send shows the provider-reported price replacing the estimate.
 */
export const EMULATED_TWILIO_PRICE_PER_SEGMENT = 0.0083;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

interface Answer {
  status: number;
  /** A JSON value, or text sent as is with `contentType` (SNS answers in XML). */
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

/**
 * Herald's provider emulator: speaks the Twilio Messages API, SendGrid v3 mail send, FCM v1 send, SES v2 SendEmail
 * and SNS Publish closely enough
 * for the real SDKs, records every request, honours the reserved sandbox addresses and can be told to fail.
 * Sandbox mode mounts it under /sandbox/ on the API server; tests run it standalone (emulator-server.ts).
 */
export class ProviderEmulator {
  /** Recorded requests, oldest first (read them through `recorded`). */
  private readonly requests: RecordedRequest[] = [];
  /** Estimated bytes of each recording, in step with `requests`, and their sum. */
  private readonly requestBytes: number[] = [];
  private recordedBytes = 0;
  /**
   * The API key each SendGrid recording was sent with, kept beside it (never in it: recordings show `SG.<id>.***`), so
   * an engagement is reported by the account that sent the mail. Dropped with the recording.
   */
  private readonly sendgridKeys = new WeakMap<RecordedRequest, string>();
  private faults: Fault[] = [];
  /** Accepted Twilio messages by sid, for the message resource (GET …/Messages/{sid}.json). */
  private readonly twilioMessages = new Map<string, Record<string, unknown>>();
  /** How many times a message resource was read (price lookups); not part of `requests`, which counts sends. */
  twilioLookups = 0;
  /** The same look-ups by the account SID they were authorised as (a tenant's message is priced by its own account). */
  readonly twilioLookupsByAccount = new Map<string, number>();
  /** Requests received and not yet answered (e.g. held by an injected delay). */
  inFlight = 0;

  /** Delivery reports back to Herald's webhooks; absent = the emulator reports nothing. */
  readonly callbacks?: EmulatorCallbacks;

  /** Customer messages and WhatsApp's 24-hour window, as Twilio keeps them. */
  readonly whatsapp: WhatsappEmulation;

  /**
   * The vendor accounts the emulator answers for, the primary `credentials` and tenants' own (channel configs,
   * issue 13), and where each one reports back.
   */
  private readonly accounts: EmulatedAccounts;

  /** OAuth tokens for registered Firebase service accounts (fcm-oauth.ts). */
  private readonly fcmTokens: FcmTokenIssuer;
  /** Access tokens issued at /fcm/token (tests assert a tenant's FCM token came from here, not Google). */
  fcmTokensIssued = 0;

  /** The secret of a known AWS key: the primary one or a registered tenant's. */
  private readonly awsSecretOf = (accessKeyId: string) => this.accounts.awsSecret(accessKeyId);

  constructor(
    private readonly credentials: EmulatorCredentials = SANDBOX_EMULATOR_CREDENTIALS,
    callbacks?: Omit<CallbackOptions, 'twilioAuthToken'>,
    options: {
      /** Herald's POST /webhooks/twilio/inbound: customer messages are forwarded there, signed. */
      twilioInboundUrl?: string;
    } = {},
  ) {
    this.accounts = new EmulatedAccounts({
      twilio: credentials.twilio,
      sendgridApiKey: credentials.sendgrid.apiKey,
      aws: credentials.aws,
      fcmProjectId: credentials.fcm.projectId,
    });
    this.fcmTokens = new FcmTokenIssuer((clientEmail) => this.accounts.fcmAccount(clientEmail));
    if (callbacks)
      this.callbacks = new EmulatorCallbacks({
        ...callbacks,
        twilioAuthToken: credentials.twilio.authToken,
        // Twilio signs each account's callbacks with that account's own token.
        twilioTokenFor: (accountSid) => this.twilioToken(accountSid),
      });
    this.whatsapp = new WhatsappEmulation(credentials.twilio, options.twilioInboundUrl);
  }

  /**
   * Registers another account (a tenant's own), or updates one, answered like the primary one; every report about
   * what it sends goes where that account is configured to report, signed with its own secret (accounts.ts):
   * Twilio status callbacks to each message's StatusCallback and customer messages to a registered number's
   * `inboundUrl`, both signed with its auth token; SendGrid events (delivery, opens, clicks) to its own
   * `eventWebhookUrl` only, signed with its own key pair, whose public key is returned for the config's
   * `webhookPublicKey`. `registrant`: who registers (a Firebase project is its first registrant's; accounts.ts).
   */
  addAccount(account: AccountRegistration, registrant?: string): { sendgridWebhookPublicKey?: string } {
    // Throws AccountConflictError for a registration that would take over another account (answered 409).
    return this.accounts.add(account, registrant);
  }

  /** The Bearer key of a SendGrid request. */
  private static sendgridKeyOf(req: Request): string {
    return bearerKey(req.headers.authorization);
  }

  /** The auth token of a known Twilio account, primary or added. */
  twilioToken(accountSid: string): string | undefined {
    return this.accounts.twilioToken(accountSid);
  }

  /** Basic auth of a known account whose SID is also the one in the path. */
  private twilioAuthorized(req: Request): string | undefined {
    const auth = parseBasic(req.headers.authorization);
    if (!auth || auth.user !== req.params.sid) return undefined;
    const token = this.twilioToken(auth.user);
    return token !== undefined && token === auth.password ? auth.user : undefined;
  }

  /** The scopes of a known SendGrid key from its Bearer header; undefined for an unknown key. */
  private sendgridScopes(req: Request): string[] | undefined {
    return this.accounts.sendgridKeyScopes(ProviderEmulator.sendgridKeyOf(req));
  }

  injectFault(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  clearFaults(): void {
    this.faults = [];
  }

  private clearRecordings(): void {
    this.requests.length = 0;
    this.requestBytes.length = 0;
    this.recordedBytes = 0;
  }

  reset(): void {
    this.clearRecordings();
    this.twilioLookups = 0;
    this.twilioLookupsByAccount.clear();
    this.clearFaults();
  }

  recorded(vendor?: EmulatedVendor): RecordedRequest[] {
    return vendor ? this.requests.filter((r) => r.vendor === vendor) : [...this.requests];
  }

  private takeFault(vendor: EmulatedVendor, req: Request): Fault | undefined {
    const ofAccount = (f: Fault) =>
      !f.account ||
      req.originalUrl.includes(`/Accounts/${f.account}/`) ||
      req.originalUrl.includes(`/projects/${f.account}/`) ||
      accessKeyOf(req) === f.account ||
      req.headers.authorization === `Bearer ${f.account}`;
    const index = this.faults.findIndex(
      (f) => (f.vendor === vendor || f.vendor === '*') && f.count > 0 && ofAccount(f),
    );
    if (index < 0) return undefined;
    const fault = this.faults[index];
    fault.count -= 1;
    if (fault.count <= 0) this.faults.splice(index, 1);
    return fault;
  }

  private record(vendor: EmulatedVendor, req: Request, answer: Answer): void {
    const received: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (typeof value === 'string') received[key] = value;
    }
    // Credentials never reach a recording (recording-redaction.ts): admins and tests read them. Cut first, so the
    // redaction walks a value of bounded depth.
    const headers = redactHeaders(received);
    const body = forRecording(req.body);
    const response = forRecording(answer.body);
    const bytes = body.bytes + response.bytes + forRecording(headers).bytes;
    const recording: RecordedRequest = {
      id: randomUUID(),
      vendor,
      method: req.method,
      path: req.originalUrl,
      headers,
      body: redactBody(body.value),
      status: answer.status,
      response: redactBody(response.value),
      responseHeaders: answer.headers,
      receivedAt: new Date().toISOString(),
    };
    if (vendor === 'sendgrid') this.sendgridKeys.set(recording, ProviderEmulator.sendgridKeyOf(req));
    this.requests.push(recording);
    this.requestBytes.push(bytes);
    this.recordedBytes += bytes;
    // Oldest first, by count and by bytes; the newest recording is always kept.
    while (
      this.requests.length > 1 &&
      (this.requests.length > MAX_RECORDINGS || this.recordedBytes > MAX_RECORDED_BYTES)
    ) {
      this.requests.shift();
      this.recordedBytes -= this.requestBytes.shift()!;
    }
  }

  /** Estimated bytes the recordings hold (recording-budget.ts), at most MAX_RECORDED_BYTES plus the newest one. */
  recordingBytes(): number {
    return this.recordedBytes;
  }

  private handle(vendor: EmulatedVendor, answer: (req: Request, fault?: Fault) => Answer | Promise<Answer>) {
    return async (req: Request, res: Response) => {
      const fault = this.takeFault(vendor, req);
      this.inFlight += 1;
      try {
        if (fault?.delayMs) await sleep(fault.delayMs);
      } finally {
        this.inFlight -= 1;
      }
      const result = await answer(req, fault);
      this.record(vendor, req, result);
      if (result.status < 300) this.report(vendor, req, result);
      answerWith(req, res, result);
    };
  }

  /**
   * The route's body parser, whose refusals (over its size limit, unparseable) are recorded and answered in the
   * vendor's own shape: a body too large for the FCM route once got SendGrid's HTML 413.
   */
  private parsed(
    vendor: EmulatedVendor,
    parser: RequestHandler,
    refusal: (error: ParserRefusal) => Answer,
  ): RequestHandler {
    return (req, res, next) => {
      parser(req, res, (error?: unknown) => {
        const status = (error as { status?: unknown } | undefined)?.status;
        // Only the parser's client errors (4xx); anything else is the server's own failure.
        if (!error || typeof status !== 'number' || status >= 500) return next(error);
        const answer = refusal(error);
        this.record(vendor, req, answer);
        answerWith(req, res, answer);
      });
    };
  }

  /** Schedules the delivery callbacks a real provider would make for an accepted request. */
  private report(vendor: EmulatedVendor, req: Request, answer: Answer) {
    if (!this.callbacks) return;
    if (vendor === 'twilio') {
      this.callbacks.afterTwilioSend(
        req.body as Record<string, string>,
        answer.body as { sid: string; account_sid: string },
      );
    }
    if (vendor === 'sendgrid') {
      const body = req.body as SendgridMailBody;
      const recipients = body.personalizations?.flatMap((p) => (p.to ?? []).map((t) => t.email ?? '')) ?? [];
      // An added account reports to its own webhook, signed with its own key, or nowhere when it has none.
      const destination = this.accounts.sendgridDestination(ProviderEmulator.sendgridKeyOf(req));
      if (destination.kind === 'none') return;
      this.callbacks.afterSendgridSend(
        recipients.filter(Boolean),
        answer.headers?.['X-Message-Id'] ?? '',
        body.custom_args ?? {},
        destination.kind === 'own' ? destination.target : undefined,
      );
    }
  }

  /**
   * Posts an open or click event for an accepted SendGrid send, as if the recipient had engaged, through the Event
   * Webhook of the account that sent it: `not_found` when no accepted send matches, `no_event_webhook` when that
   * account reports nowhere (an added account without `eventWebhookUrl`, or an emulator without callbacks).
   */
  async engage(request: {
    heraldMessageId?: string;
    email?: string;
    event: 'open' | 'click';
    url?: string;
  }): Promise<'reported' | 'not_found' | 'no_event_webhook'> {
    const sent = this.requests.find((r) => {
      if (r.vendor !== 'sendgrid' || r.status >= 300) return false;
      const body = r.body as SendgridMailBody;
      if (request.heraldMessageId) return body.custom_args?.herald_message_id === request.heraldMessageId;
      return Boolean(
        request.email && body.personalizations?.some((p) => p.to?.some((t) => t.email === request.email)),
      );
    });
    if (!sent) return 'not_found';
    // The open is reported by the account that sent the mail, as SendGrid tracks it per account.
    const destination = this.accounts.sendgridDestination(this.sendgridKeys.get(sent) ?? '');
    if (!this.callbacks || destination.kind === 'none') return 'no_event_webhook';
    const body = sent.body as SendgridMailBody;
    const recipient = request.email ?? body.personalizations?.[0]?.to?.[0]?.email ?? '';
    const extra =
      request.event === 'click'
        ? { url: request.url ?? 'https://example.com/' }
        : { useragent: 'Mozilla/5.0' };
    await this.callbacks.sendgridEvents(
      [
        EmulatorCallbacks.sendgridEvent(
          recipient,
          sent.responseHeaders?.['X-Message-Id'] ?? '',
          body.custom_args ?? {},
          request.event,
          extra,
        ),
      ],
      destination.kind === 'own' ? destination.target : undefined,
    );
    return 'reported';
  }

  stop(): void {
    this.callbacks?.stop();
  }

  private twilio(req: Request, fault?: Fault): Answer {
    const accountSid = this.twilioAuthorized(req);
    if (!accountSid) return twilioError(401, 20003, 'Authenticate');
    if (fault?.status) {
      const headers = fault.retryAfterSeconds
        ? { 'Retry-After': String(fault.retryAfterSeconds) }
        : undefined;
      return {
        ...twilioError(
          fault.status,
          Number(fault.code ?? (fault.status === 429 ? 20429 : 20500)),
          'Injected fault',
        ),
        headers,
      };
    }
    const body = req.body as Record<string, string | string[] | undefined>;
    const to = String(body.To ?? '');
    if (!to || (!body.Body && !body.MediaUrl && !body.ContentSid))
      return twilioError(400, 21602, 'Message body is required.');
    if (!body.From && !body.MessagingServiceSid)
      return twilioError(400, 21603, "A 'From' phone number is required.");
    const notOwned = this.senderRefusal(accountSid, body);
    if (notOwned) return notOwned;
    if (to.replace(/^whatsapp:/, '') === SANDBOX_ADDRESSES.rejectedPhone) {
      return twilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    }
    // Content API templates are checked as Twilio checks them; free-form WhatsApp only inside the 24-hour window.
    const refusal = contentRefusal(body) ?? this.whatsapp.refusal(body);
    if (refusal) return twilioError(refusal.status, refusal.code, refusal.message);
    const text = String(body.Body ?? '');
    // Twilio's documented limits (vendor-refusals.ts), checked before the segment calculator below, which is
    // quadratic in the body's length.
    const refused = twilioLimitRefusal(body);
    if (refused) return refused;
    const now = new Date().toUTCString();
    const answer = {
      status: 201,
      body: {
        sid: `SM${hex(16)}`,
        account_sid: accountSid,
        to,
        from: body.From ?? null,
        messaging_service_sid: body.MessagingServiceSid ?? null,
        body: text,
        status: 'queued',
        num_segments: String(new SegmentedMessage(text, 'auto').segmentsCount),
        num_media: String(mediaKept(body)),
        direction: 'outbound-api',
        api_version: '2010-04-01',
        price: null,
        price_unit: 'USD',
        error_code: null,
        error_message: null,
        date_created: now,
        date_updated: now,
        date_sent: null,
        uri: `/2010-04-01/Accounts/${accountSid}/Messages.json`,
      },
    };
    this.twilioMessages.set(answer.body.sid, answer.body);
    if (this.twilioMessages.size > MAX_RECORDINGS) {
      this.twilioMessages.delete(this.twilioMessages.keys().next().value!);
    }
    return answer;
  }

  /**
   * Twilio's refusal of a sender the account does not own (break round b13c, finding 2): a number not registered to
   * it answers 21606 ("The 'From' phone number provided is not a valid message-capable Twilio phone number for this
   * destination/account", https://www.twilio.com/docs/api/errors/21606), a WhatsApp From 63007 ("Twilio could not
   * find a Channel with the specified 'From' address", https://www.twilio.com/docs/api/errors/63007) and a Messaging
   * Service 21701 ("does not exist or does not match the Account SID in the API Request",
   * https://www.twilio.com/docs/api/errors/21701). Which senders an account owns: EmulatedAccounts.ownsSender.
   */
  private senderRefusal(
    accountSid: string,
    body: Record<string, string | string[] | undefined>,
  ): Answer | undefined {
    const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
    const service = first(body.MessagingServiceSid);
    if (service && !this.accounts.ownsSender(accountSid, service))
      return twilioError(
        400,
        21701,
        `The Messaging Service ${service} does not exist or does not belong to this account.`,
      );
    const from = first(body.From);
    if (!from || this.accounts.ownsSender(accountSid, from)) return undefined;
    return from.startsWith('whatsapp:')
      ? twilioError(400, 63007, "Twilio could not find a Channel with the specified 'From' address")
      : twilioError(
          400,
          21606,
          "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account",
        );
  }

  /** The message resource as Twilio reports it after the final status: settled, with its (negative) price. */
  private twilioMessage(req: Request): Answer {
    const accountSid = this.twilioAuthorized(req);
    if (!accountSid) return twilioError(401, 20003, 'Authenticate');
    this.twilioLookups += 1;
    this.twilioLookupsByAccount.set(accountSid, (this.twilioLookupsByAccount.get(accountSid) ?? 0) + 1);
    const message = this.twilioMessages.get(String(req.params.messageSid));
    // Another account's message is not found, as at Twilio.
    if (!message || message.account_sid !== accountSid)
      return twilioError(404, 20404, 'The requested resource was not found');
    const undelivered = String(message.to).replace(/^whatsapp:/, '') === SANDBOX_ADDRESSES.undeliveredPhone;
    const segments = Number(message.num_segments);
    return {
      status: 200,
      body: {
        ...message,
        status: undelivered ? 'undelivered' : 'delivered',
        price: (-segments * EMULATED_TWILIO_PRICE_PER_SEGMENT).toFixed(5),
        price_unit: 'USD',
      },
    };
  }

  /** Twilio's Account resource (GET /2010-04-01/Accounts/{sid}.json): what validating a tenant's account reads. */
  private twilioAccount(req: Request): Answer {
    const accountSid = this.twilioAuthorized(req);
    if (!accountSid) return twilioError(401, 20003, 'Authenticate');
    const now = new Date().toUTCString();
    return {
      status: 200,
      body: {
        sid: accountSid,
        owner_account_sid: accountSid,
        friendly_name: `Emulated account ${accountSid}`,
        status: 'active',
        type: 'Full',
        date_created: now,
        date_updated: now,
        uri: `/2010-04-01/Accounts/${accountSid}.json`,
      },
    };
  }

  /** SendGrid's GET /v3/scopes: the key's permissions (validation checks that `mail.send` is among them). */
  private sendgridScopeList(req: Request): Answer {
    const scopes = this.sendgridScopes(req);
    return scopes ? { status: 200, body: { scopes } } : sendgridUnauthorized();
  }

  private sendgrid(req: Request, fault?: Fault): Answer {
    const scopes = this.sendgridScopes(req);
    if (!scopes) return sendgridUnauthorized();
    if (!scopes.includes('mail.send')) {
      return {
        status: 403,
        body: { errors: [{ message: 'access forbidden', field: null }] },
      };
    }
    if (fault?.status) {
      const headers = fault.retryAfterSeconds
        ? { 'Retry-After': String(fault.retryAfterSeconds) }
        : undefined;
      return {
        status: fault.status,
        body: { errors: [{ message: 'Injected fault', field: null }] },
        headers,
      };
    }
    // The front end's size limit first, then SendGrid's validation of the mail (sendgrid-mail.ts).
    const refused =
      sendgridSizeRefusal((req as RawSized).rawBytes ?? 0) ?? sendgridMailRefusal(req.body as unknown);
    if (refused) return refused;
    return { status: 202, body: undefined, headers: { 'X-Message-Id': hex(11) } };
  }

  private fcm(req: Request, fault?: Fault): Answer {
    const project = String(req.params.project);
    const token = bearerKey(req.headers.authorization);
    // Every token works for its own project only, as Google's do: the published sandbox token for the service-wide
    // project, a registered service account's for that account's (break round b13c: the sandbox token sent for a
    // tenant's project).
    const tokenProject =
      token === this.credentials.fcm.accessToken
        ? this.credentials.fcm.projectId
        : this.fcmTokens.projectOf(token);
    if (!tokenProject)
      return fcmError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    if (tokenProject !== project)
      return fcmError(403, 'PERMISSION_DENIED', 'SenderId mismatch', 'SENDER_ID_MISMATCH');
    if (fault?.status) {
      const status =
        fault.status === 429
          ? 'RESOURCE_EXHAUSTED'
          : fault.status >= 500
            ? 'UNAVAILABLE'
            : 'INVALID_ARGUMENT';
      const error = fcmError(
        fault.status,
        status,
        'Injected fault',
        fault.code ? String(fault.code) : undefined,
      );
      return fault.retryAfterSeconds
        ? { ...error, headers: { 'Retry-After': String(fault.retryAfterSeconds) } }
        : error;
    }
    const message = (req.body as { message?: Parameters<typeof fcmLimitRefusal>[0] } | undefined)?.message;
    if (!message || !(message.token || message.topic || message.condition)) {
      return fcmError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', 'INVALID_ARGUMENT');
    }
    const refused = fcmTargetRefusal(message) ?? fcmLimitRefusal(message);
    if (refused) return refused;
    if (message.token?.startsWith(SANDBOX_ADDRESSES.unregisteredTokenPrefix)) {
      return fcmError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED');
    }
    // validate_only (a dry run): checked as a send, nothing delivered; FCM names it fake_message_id.
    if ((req.body as { validate_only?: unknown }).validate_only === true)
      return { status: 200, body: { name: `projects/${project}/messages/fake_message_id` } };
    return { status: 200, body: { name: `projects/${project}/messages/${Date.now()}${hex(4)}` } };
  }

  /** The vendor APIs, mounted at /twilio, /sendgrid and /fcm. */
  vendorRouter(): Router {
    const router = express.Router();
    router.post(
      '/twilio/2010-04-01/Accounts/:sid/Messages.json',
      this.parsed('twilio', express.urlencoded({ extended: false, limit: '1mb' }), twilioUnparseable),
      this.handle('twilio', (req, fault) => this.twilio(req, fault)),
    );
    router.get('/twilio/2010-04-01/Accounts/:sid.json', (req, res) => {
      const answer = this.twilioAccount(req);
      res.status(answer.status).json(answer.body);
    });
    router.get('/sendgrid/v3/scopes', (req, res) => {
      const answer = this.sendgridScopeList(req);
      res.status(answer.status).json(answer.body);
    });
    router.get('/twilio/2010-04-01/Accounts/:sid/Messages/:messageSid.json', (req, res) => {
      const answer = this.twilioMessage(req);
      res.status(answer.status).json(answer.body);
    });
    router.post(
      '/sendgrid/v3/mail/send',
      // Parsed past SendGrid's 30 MB so the request's size is SendGrid's rule (vendor-refusals.ts), not the parser's.
      this.parsed('sendgrid', express.json({ limit: '40mb', verify: noteRawBytes }), sendgridUnparseable),
      this.handle('sendgrid', (req, fault) => this.sendgrid(req, fault)),
    );
    router.post(
      '/fcm/v1/projects/:project/messages\\:send',
      this.parsed('fcm', express.json({ limit: '1mb' }), fcmUnparseable),
      this.handle('fcm', (req, fault) => this.fcm(req, fault)),
    );
    // Google's OAuth token endpoint as the emulator plays it (fcm-oauth.ts). Not recorded: the assertion is a
    // credential for an hour.
    router.post('/fcm/token', express.urlencoded({ extended: false, limit: '64kb' }), async (req, res) => {
      const answer = await this.fcmTokens.issue(
        req.body as Record<string, unknown> | undefined,
        tokenUrisOf(req),
      );
      if (answer.status === 200) this.fcmTokensIssued += 1;
      res.status(answer.status).json(answer.body);
    });
    router.post(
      '/ses/v2/email/outbound-emails',
      this.parsed('ses', express.json({ limit: '40mb', verify: keepRawBody }), sesUnparseable),
      this.handle('ses', (req, fault) => sesSendEmail(req, this.awsSecretOf, fault)),
    );
    // Account checks (validation of a tenant's config) are answered, not recorded: recordings are sends.
    router.get('/ses/v2/email/account', async (req, res) => {
      answerWith(req, res, await sesGetAccount(req, this.awsSecretOf));
    });
    const snsSend = this.handle('sns', (req, fault) => snsPublish(req, this.awsSecretOf, fault));
    router.post(
      '/sns',
      this.parsed(
        'sns',
        express.urlencoded({ extended: false, limit: '1mb', verify: keepRawBody }),
        snsUnparseable,
      ),
      async (req, res) => {
        if ((req.body as { Action?: unknown }).Action === 'GetSMSAttributes')
          answerWith(req, res, await snsGetSmsAttributes(req, this.awsSecretOf));
        else await snsSend(req, res);
      },
    );
    return router;
  }

  /**
   * Reading recordings and injecting faults: tests and development only, never in production. `registrantOf` names
   * who registers an account at POST /accounts (Herald's API server: the admin's tenant); without it, or when it
   * answers undefined, every caller is the same anonymous registrant.
   */
  controlRouter(
    options: { registrantOf?: (req: Request, res: Response) => string | undefined } = {},
  ): Router {
    const router = express.Router();
    router.get('/requests', (req, res) => {
      const vendor = typeof req.query.vendor === 'string' ? (req.query.vendor as EmulatedVendor) : undefined;
      res.json(this.recorded(vendor));
    });
    router.delete('/requests', (_req, res) => {
      this.clearRecordings();
      res.status(204).end();
    });
    router.post('/faults', express.json(), (req, res) => {
      const fault = req.body as Fault;
      if (!fault || !VENDORS.includes(fault.vendor) || !(fault.count > 0)) {
        res.status(400).json({
          error: `expected { vendor: ${VENDORS.join('|')}, count > 0, status?, code?, delayMs?, retryAfterSeconds?, account? }`,
        });
        return;
      }
      this.injectFault(fault);
      res.status(201).json(fault);
    });
    // A customer's message reaching Twilio: opens its WhatsApp window and is forwarded to Herald's inbound webhook.
    router.post('/twilio/inbound', express.json(), (req, res) => {
      const body = req.body as { From?: unknown; To?: unknown; Body?: unknown; at?: unknown };
      const at = typeof body?.at === 'string' ? new Date(body.at) : undefined;
      if (typeof body?.From !== 'string' || body.From.trim() === '' || (at && Number.isNaN(at.getTime()))) {
        res.status(400).json({
          error: 'expected { From: "whatsapp:+14155552671" | "+14155552671", To?, Body?, at?: ISO time }',
        });
        return;
      }
      const whatsapp = body.From.startsWith('whatsapp:');
      const sender = typeof body.To === 'string' && body.To !== '' ? body.To : undefined;
      const to = sender ?? (whatsapp ? SANDBOX.twilio.whatsappFrom : SANDBOX.twilio.from);
      this.whatsapp
        .customerMessage(
          { From: body.From, To: to, Body: typeof body.Body === 'string' ? body.Body : '', at },
          // A tenant's registered number posts to its own webhook, signed by its own account; any other number is
          // the primary account's.
          this.accounts.inboundRoute(to),
        )
        .then(
          (message) => res.status(201).json(message),
          () => res.status(500).json({ error: 'could not record the message' }),
        );
    });
    router.get('/twilio/inbound', (_req, res) => {
      res.json(this.whatsapp.received);
    });
    // A tenant's own vendor account (channel configs), registered or updated (accounts.ts): { twilio?: { accountSid,
    // authToken, numbers?: [{ number, inboundUrl? }], messagingServiceSids? }, sendgrid?: { apiKey, scopes?,
    // eventWebhookUrl? }, aws?, fcm? }; answers { added, sendgridWebhookPublicKey? }.
    router.post('/accounts', express.json(), (req, res) => {
      const registration = parseRegistration(req.body);
      if (typeof registration === 'string') {
        res.status(400).json({ error: registration });
        return;
      }
      try {
        res
          .status(201)
          .json({ added: true, ...this.addAccount(registration, options.registrantOf?.(req, res)) });
      } catch (error) {
        if (!(error instanceof AccountConflictError)) throw error;
        res.status(409).json({ error: error.message });
      }
    });
    router.get('/callbacks', (_req, res) => {
      res.json(this.callbacks?.sent ?? []);
    });
    router.post('/sendgrid/engagement', express.json(), (req, res) => {
      const body = req.body as { heraldMessageId?: string; email?: string; event?: string; url?: string };
      if (body?.event !== 'open' && body?.event !== 'click') {
        res.status(400).json({ error: 'expected { event: open|click, heraldMessageId? | email?, url? }' });
        return;
      }
      this.engage({ ...body, event: body.event }).then(
        (outcome) => {
          if (outcome === 'reported') res.status(202).json({ reported: true });
          else if (outcome === 'not_found')
            res.status(404).json({ reported: false, error: 'no accepted SendGrid send matches' });
          else
            res.status(409).json({
              reported: false,
              error: 'the account that sent it has no Event Webhook: register its sendgrid.eventWebhookUrl',
            });
        },
        () => res.status(502).json({ reported: false }),
      );
    });
    router.delete('/faults', (_req, res) => {
      this.clearFaults();
      res.status(204).end();
    });
    return router;
  }
}

/** The key of a `Bearer …` authorization header ('' for anything else). */
function bearerKey(header: string | undefined): string {
  return header?.startsWith('Bearer ') ? header.slice(7) : '';
}

/** Sends an answer: JSON, or text with its content type, or nothing; not to a client that has gone. */
function answerWith(req: Request, res: Response, answer: Answer): void {
  if (res.destroyed || req.socket.destroyed) return;
  res.status(answer.status).set(answer.headers ?? {});
  if (answer.body === undefined) res.end();
  else if (answer.contentType) res.type(answer.contentType).send(answer.body);
  else res.json(answer.body);
}

/** A request whose body parser noted the raw body's size in bytes. */
type RawSized = Request & { rawBytes?: number };

function noteRawBytes(req: unknown, _res: unknown, buffer: Buffer): void {
  (req as RawSized).rawBytes = buffer.length;
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function sendgridUnauthorized(): Answer {
  return {
    status: 401,
    body: {
      errors: [{ message: 'The provided authorization grant is invalid, expired, or revoked', field: null }],
    },
  };
}

function fcmError(status: number, grpcStatus: string, message: string, errorCode?: string): Answer {
  return {
    status,
    body: {
      error: {
        code: status,
        message,
        status: grpcStatus,
        ...(errorCode
          ? { details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] }
          : {}),
      },
    },
  };
}
