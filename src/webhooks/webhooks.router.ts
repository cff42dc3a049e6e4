import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Config } from '../config/env';
import type { Logger } from '../config/logger';
import type { Services } from '../services';
import { exceedsJsonDepth } from '../services/json-depth';
import { isConnectionError } from '../services/errors';
import {
  WebhookConfigNotFoundError,
  WebhookConfigUnreadableError,
  WebhookFormatError,
  WebhookSignatureError,
} from '../services/webhook-intake.service';

type Handler = (req: Request, res: Response) => Promise<void>;

/**
 * Retry-After of a config whose webhook secret cannot be read until an operator puts its key back: minutes, not
 * seconds. A vendor that retries on 5xx delivers again later; Twilio retries only when the callback URL asks it to
 * (connection overrides), so for it the answer mainly says why (and shows in its debugger).
 */
const UNREADABLE_CONFIG_RETRY_AFTER_SECONDS = 300;

/**
 * Provider webhooks (CONTRACT.md): the body is taken raw, signatures are checked on those bytes before anything is
 * parsed, and the answer is 2xx only once the event is stored. 403 bad signature, 400 malformed, 413 too large.
 */
export function createWebhooksRouter(config: Config, services: Services, logger: Logger): Router {
  const router = express.Router();
  const raw = express.raw({ type: () => true, limit: config.delivery.webhookBodyLimitBytes });
  const request = (req: Request) => ({
    // What the provider called and signed: the public base URL plus the path and query as received.
    url: `${config.server.publicUrl}${req.originalUrl}`,
    headers: req.headers,
    body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
  });
  // Both checks run on the raw bytes before the signature is verified or anything parsed: a linear count, so an
  // unsigned body cannot buy parse or HMAC time with its shape. Twilio posts about 40 fields
  // (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status); a form with more than
  // WEBHOOK_MAX_FORM_FIELDS is refused 413, as body-parser's own parameterLimit does. SendGrid posts an array of flat
  // event objects (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event): JSON nested past
  // WEBHOOK_JSON_MAX_DEPTH is refused 400 before JSON.parse and the recursive walks after it.
  const tooManyFields = (req: Request, res: Response, next: NextFunction): void => {
    const max = config.delivery.webhookMaxFormFields;
    if (Buffer.isBuffer(req.body) && req.body.length > 0 && countFormFields(req.body, max + 1) > max) {
      res.status(413).json({ error: `form has more than ${max} fields` });
      return;
    }
    next();
  };
  const tooDeep = (req: Request, res: Response, next: NextFunction): void => {
    const max = config.graphql.webhookJsonMaxDepth;
    if (Buffer.isBuffer(req.body) && exceedsJsonDepth(req.body, max)) {
      res.status(400).json({ error: `JSON nests deeper than ${max} levels` });
      return;
    }
    next();
  };
  const handle =
    (handler: Handler) =>
    (req: Request, res: Response, next: NextFunction): void => {
      handler(req, res).catch(next);
    };

  // A vendor without webhook credentials has no routes (404): in production that is every vendor not configured,
  // so nothing is ever checked against the sandbox secrets published in this repository.
  if (config.webhooks.twilio) {
    router.post(
      '/twilio/status',
      raw,
      tooManyFields,
      handle(async (req, res) => {
        await services.webhooks.twilioStatus(request(req));
        res.status(204).end();
      }),
    );
    router.post(
      '/twilio/inbound',
      raw,
      tooManyFields,
      handle(async (req, res) => {
        const twiml = await services.webhooks.twilioInbound(request(req));
        res.status(200).type('text/xml').send(twiml);
      }),
    );
  }
  if (config.webhooks.sendgrid) {
    router.post(
      '/sendgrid/events',
      raw,
      tooDeep,
      handle(async (req, res) => {
        const count = await services.webhooks.sendgridEvents(request(req));
        res.status(200).json({ accepted: count });
      }),
    );
  }

  // A tenant's own channel config (issue 13): its own paths, verified with its own secret whatever the service-wide
  // vendors are. 404 for an id that is not a UUID, unknown, deleted, or another vendor's config; 403 for any other
  // secret (another tenant's, the service-wide one); 503 with Retry-After when the config's secret cannot be decrypted
  // (its key id is not in CONFIG_ENCRYPTION_KEY). An inactive config still verifies and accepts: the vendor keeps
  // reporting on messages sent before it was switched off.
  const configId = (req: Request) => String(req.params.configId);
  router.post(
    '/twilio/:configId/status',
    raw,
    tooManyFields,
    handle(async (req, res) => {
      await services.webhooks.twilioStatusFor(configId(req), request(req));
      res.status(204).end();
    }),
  );
  router.post(
    '/twilio/:configId/inbound',
    raw,
    tooManyFields,
    handle(async (req, res) => {
      const twiml = await services.webhooks.twilioInboundFor(configId(req), request(req));
      res.status(200).type('text/xml').send(twiml);
    }),
  );
  router.post(
    '/sendgrid/:configId/events',
    raw,
    tooDeep,
    handle(async (req, res) => {
      const count = await services.webhooks.sendgridEventsFor(configId(req), request(req));
      res.status(200).json({ accepted: count });
    }),
  );

  router.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof WebhookConfigNotFoundError) {
      res.status(404).json({ error: 'no such channel config' });
      return;
    }
    if (error instanceof WebhookConfigUnreadableError) {
      // Logged once per config version where it is detected (webhook-scope.ts), not per request.
      res
        .status(503)
        .set('Retry-After', String(UNREADABLE_CONFIG_RETRY_AFTER_SECONDS))
        .json({ error: error.message });
      return;
    }
    if (error instanceof WebhookSignatureError) {
      logger.warn({ path: req.path, reason: error.message }, 'webhook refused: bad signature');
      res.status(403).json({ error: 'invalid signature' });
      return;
    }
    if (error instanceof WebhookFormatError) {
      res.status(400).json({ error: error.message });
      return;
    }
    if ((error as { type?: string }).type === 'entity.too.large') {
      res.status(413).json({ error: `body larger than ${config.delivery.webhookBodyLimitBytes} bytes` });
      return;
    }
    if (isConnectionError(error)) {
      // Nothing stored: the provider retries.
      res.status(503).json({ error: 'storage unavailable, retry later' });
      return;
    }
    logger.error({ err: error, path: req.path }, 'webhook failed');
    res.status(500).json({ error: 'internal error' });
  });
  return router;
}

/** `&`-separated pairs in a form body (WHATWG URL: application/x-www-form-urlencoded parsing), counting up to `stop`. */
function countFormFields(body: Buffer, stop: number): number {
  let fields = 1;
  for (let i = body.indexOf(0x26); i !== -1 && fields < stop; i = body.indexOf(0x26, i + 1)) fields += 1;
  return fields;
}
