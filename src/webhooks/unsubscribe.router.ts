import express, { type Router } from 'express';
import type { Logger } from '../config/logger';
import type { Services } from '../services';

const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body style="font-family:sans-serif;max-width:32rem;margin:4rem auto">${body}</body></html>`;

/**
 * One-click unsubscribe (RFC 8058) for marketing email: the mailbox provider POSTs `List-Unsubscribe=One-Click` to the
 * signed link; a person following it in a browser gets a confirmation button (GET never changes anything).
 */
export function createUnsubscribeRouter(services: Services, logger: Logger): Router {
  const router = express.Router();
  router.get('/:token', (req, res) => {
    res
      .type('html')
      .send(
        page(
          'Unsubscribe',
          `<h1>Unsubscribe</h1><p>Stop receiving these emails?</p><form method="post" action="${encodeURI(req.originalUrl)}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
        ),
      );
  });
  router.post('/:token', express.urlencoded({ extended: false, limit: '4kb' }), (req, res, next) => {
    // The request's id, as the server's request-id middleware set it on the response: the audit row carries it.
    const requestId = res.getHeader('x-request-id');
    services.consents
      .unsubscribe(req.params.token, 'one_click', typeof requestId === 'string' ? requestId : null)
      .then((done) => {
        if (!done) {
          res
            .status(400)
            .type('html')
            .send(page('Invalid link', '<h1>This unsubscribe link is not valid.</h1>'));
          return;
        }
        logger.info('one-click unsubscribe recorded');
        res.status(200).type('html').send(page('Unsubscribed', '<h1>You are unsubscribed.</h1>'));
      })
      .catch(next);
  });
  return router;
}
