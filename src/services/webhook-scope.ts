import type { EntityManager } from '@mikro-orm/postgresql';
import { ChannelConfig, SERVICE_WIDE } from '../entities';
import { sendgridVerifier, type SendgridVerifier } from '../providers/sendgrid.webhook';
import { twilioVerifier, type TwilioVerifier } from '../providers/twilio.webhook';
import type { Logger } from '../config/logger';
import type { ChannelConfigService } from './channel-config.service';
import { OncePerVersion } from './once-per-version';
import { isUuid } from './query.service';
import { SecretBoxError } from './secret-box';

/**
 * Whose account a webhook came through (issue 13): null = the service-wide accounts (POST /webhooks/twilio/status…),
 * else one tenant channel config (POST /webhooks/twilio/:configId/status…). Stored with the raw event, so applying it
 * later (the scheduler's retry) keeps the same scope.
 */
export type WebhookScope = { configId: string; tenantId: string } | null;

/** The identity blocks are kept under for a scope: the tenant for its own config, SERVICE_WIDE otherwise. */
export const blockIdentity = (scope: WebhookScope): string => scope?.tenantId ?? SERVICE_WIDE;

/**
 * The per-config path names no config of that vendor (not a UUID, unknown, another vendor's, or deleted longer ago
 * than DELETED_CHANNEL_CONFIG_WEBHOOK_DAYS): answered 404.
 */
export class WebhookConfigNotFoundError extends Error {}

/**
 * The config exists but the secret that verifies its webhooks cannot be decrypted: its key id is not in
 * CONFIG_ENCRYPTION_KEY (a rotation that dropped a key too early) or the ciphertext does not authenticate. Answered
 * 503 with Retry-After, so a vendor that retries on 5xx delivers again once the key is back; the message names the
 * cause, never a secret nor the key.
 */
export class WebhookConfigUnreadableError extends Error {}

const VENDOR_PROVIDERS = {
  twilio: ['twilio-sms', 'twilio-whatsapp'],
  sendgrid: ['sendgrid'],
} as const;

interface Cached<V> {
  version: number;
  verify: V;
}

/**
 * The verifiers of tenants' channel configs, built from each config's own secret (Twilio: its auth token; SendGrid:
 * its Signed Event Webhook public key) and cached by config id and version, so an update or a rotation in another
 * process is seen at the next request (one indexed read per webhook) without decrypting each time.
 *
 * An inactive config still verifies and accepts: the vendor keeps calling back for messages already sent through
 * it, and refusing those would lose their statuses. So does a deleted one, for DELETED_CHANNEL_CONFIG_WEBHOOK_DAYS
 * (a send in flight at the delete, later bounces, a recipient's STOP to its number); after that, and once purged, it
 * answers 404 (WebhookConfigNotFoundError).
 */
export class ConfigWebhookVerifiers {
  private readonly twilio = new Map<string, Cached<TwilioVerifier>>();
  private readonly sendgrid = new Map<string, Cached<SendgridVerifier>>();
  private readonly unreadable = new OncePerVersion();

  constructor(
    private readonly configs: ChannelConfigService,
    private readonly window: { maxAgeSeconds: number; maxSkewSeconds: number },
    private readonly logger: Logger,
  ) {}

  private async row(em: EntityManager, configId: string, vendor: keyof typeof VENDOR_PROVIDERS) {
    if (!isUuid(configId)) throw new WebhookConfigNotFoundError('not a channel config id');
    const row = await em.findOne(ChannelConfig, { id: configId });
    if (
      !row ||
      !(VENDOR_PROVIDERS[vendor] as readonly string[]).includes(row.provider) ||
      !this.configs.webhooksLive(row)
    ) {
      throw new WebhookConfigNotFoundError(`no ${vendor} channel config with this id`);
    }
    return row;
  }

  /**
   * The verifier and scope of a Twilio config; WebhookConfigNotFoundError (404) when there is none,
   * WebhookConfigUnreadableError (503) when its auth token cannot be decrypted (one warn line per config version).
   */
  async forTwilio(
    em: EntityManager,
    configId: string,
  ): Promise<{ verify: TwilioVerifier; scope: NonNullable<WebhookScope> }> {
    const row = await this.row(em, configId, 'twilio');
    let cached = this.twilio.get(row.id);
    if (cached?.version !== row.version) {
      const token = this.authTokenOf(row);
      if (!token) throw new WebhookConfigNotFoundError('this channel config has no auth token');
      cached = { version: row.version, verify: twilioVerifier(token) };
      this.twilio.set(row.id, cached);
    }
    return { verify: cached.verify, scope: { configId: row.id, tenantId: row.tenantId } };
  }

  private authTokenOf(row: ChannelConfig): string | undefined {
    try {
      const token = this.configs.secretsOf(row).authToken;
      this.unreadable.clear(row.id);
      return token;
    } catch (error) {
      if (!(error instanceof SecretBoxError)) throw error;
      const missingKeyId = this.configs.missingKeyIdOf(row);
      if (this.unreadable.first(row.id, row.version)) {
        this.logger.warn(
          {
            channelConfigId: row.id,
            tenantId: row.tenantId,
            version: row.version,
            missingKeyId,
            reason: error.message,
          },
          missingKeyId
            ? 'channel config webhooks answer 503: its encryption key is not in CONFIG_ENCRYPTION_KEY'
            : 'channel config webhooks answer 503: its credentials do not decrypt',
        );
      }
      throw new WebhookConfigUnreadableError(
        missingKeyId
          ? 'channel config credentials cannot be read: key id not configured'
          : 'channel config credentials cannot be read: they do not decrypt with the configured keys',
      );
    }
  }

  /**
   * The verifier and scope of a SendGrid config; WebhookConfigNotFoundError (404) when there is none or it has no
   * `identifiers.webhookPublicKey` (nothing could verify its events: the same as the service-wide route without
   * SENDGRID_WEBHOOK_PUBLIC_KEY).
   */
  async forSendgrid(
    em: EntityManager,
    configId: string,
  ): Promise<{ verify: SendgridVerifier; scope: NonNullable<WebhookScope> }> {
    const row = await this.row(em, configId, 'sendgrid');
    let cached = this.sendgrid.get(row.id);
    if (cached?.version !== row.version) {
      const publicKey = row.identifiers.webhookPublicKey;
      if (!publicKey) throw new WebhookConfigNotFoundError('this channel config has no webhookPublicKey');
      cached = { version: row.version, verify: sendgridVerifier({ publicKey, ...this.window }) };
      this.sendgrid.set(row.id, cached);
    }
    return { verify: cached.verify, scope: { configId: row.id, tenantId: row.tenantId } };
  }
}
