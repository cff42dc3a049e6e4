import { Entity, Enum, Index, PrimaryKey, Property } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Channel } from './enums';

/** The provider ids a tenant may bring its own account for (the registry's ids). */
export const CHANNEL_CONFIG_PROVIDERS = [
  'twilio-sms',
  'twilio-whatsapp',
  'sendgrid',
  'fcm',
  'ses',
  'sns',
] as const;
export type ChannelConfigProvider = (typeof CHANNEL_CONFIG_PROVIDERS)[number];

/** Where a config sends from; shown in responses. Which fields apply depends on the provider. */
export interface ChannelConfigSenders {
  /** twilio-sms, sns: E.164 sender number. */
  fromNumber?: string | null;
  /** twilio-sms: a Messaging Service SID (MG…), used instead of fromNumber. */
  messagingServiceSid?: string | null;
  /** twilio-whatsapp: E.164 WhatsApp sender (without `whatsapp:`). */
  whatsappFrom?: string | null;
  /** sendgrid, ses: sender address. */
  fromEmail?: string | null;
  /** fcm: Firebase project id. */
  projectId?: string | null;
}

/** Account identifiers, stored and shown in clear (they authorise nothing alone). */
export interface ChannelConfigIdentifiers {
  /** twilio-*: AC… */
  accountSid?: string | null;
  /** ses, sns: AWS access key id. */
  accessKeyId?: string | null;
  /** ses, sns: AWS region. */
  region?: string | null;
  /** fcm: the service account's client_email. */
  clientEmail?: string | null;
  /** sendgrid: the Signed Event Webhook's public key (base64 DER or PEM); public, so in clear. */
  webhookPublicKey?: string | null;
}

/** The secrets, only ever held decrypted in memory (SecretBox); responses show `***`. */
export interface ChannelConfigSecrets {
  /** twilio-*: auth token. */
  authToken?: string;
  /** sendgrid: API key. */
  apiKey?: string;
  /** fcm: the service account's private_key (PEM). */
  privateKey?: string;
  /** ses, sns: AWS secret access key. */
  secretAccessKey?: string;
}
export const SECRET_FIELDS = ['authToken', 'apiKey', 'privateKey', 'secretAccessKey'] as const;
export type SecretField = (typeof SECRET_FIELDS)[number];

/**
 * A tenant's own provider account for one channel (issue 13). Its credentials are one AES-256-GCM ciphertext of the
 * secrets' JSON (`v1.<kid>.…`, services/secret-box.ts) bound to the row's id and tenant; `secretFields` says which
 * secrets are set without decrypting. `version` grows on every change so each worker process can tell its cached
 * adapter is stale.
 *
 * Deleting a config sets `deletedAt` (a soft delete): it is gone from the API and from routing, and its name is free
 * again (the unique index on tenant and name is partial, `where deleted_at is null`, Migration20261222090000), but its
 * webhook paths keep applying the vendor's reports for DELETED_CHANNEL_CONFIG_WEBHOOK_DAYS, after which the scheduler
 * purges the row.
 */
@Entity({ tableName: 'channel_config' })
@Index({ properties: ['tenantId', 'channel', 'position'] })
export class ChannelConfig {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'text' })
  tenantId!: string;

  @Property({ type: 'text' })
  name!: string;

  @Enum({ items: () => Channel })
  channel!: Channel;

  @Property({ type: 'text' })
  provider!: ChannelConfigProvider;

  @Property({ type: 'boolean' })
  active!: boolean;

  /** Order among the tenant's configs of the channel, lowest first. */
  @Property({ type: 'integer' })
  position!: number;

  @Property({ type: 'jsonb' })
  senders!: ChannelConfigSenders;

  @Property({ type: 'jsonb' })
  identifiers!: ChannelConfigIdentifiers;

  /** `v1.<kid>.<iv>.<tag>.<ct>`: the JSON of ChannelConfigSecrets. */
  @Property({ type: 'text' })
  credentials!: string;

  @Property({ type: 'jsonb' })
  secretFields!: SecretField[];

  /**
   * The vendor's answer to the last validation: null = never checked. Also set false when the vendor refused the
   * account at send time (services/account-refusal.ts), and true again when a send through the config succeeds.
   */
  @Property({ type: 'boolean', nullable: true })
  validationOk?: boolean | null;

  @Property({ type: 'timestamptz', nullable: true })
  validationCheckedAt?: Date | null;

  @Property({ type: 'text', nullable: true })
  validationError?: string | null;

  @Property({ type: 'integer' })
  version!: number;

  @Property({ type: 'timestamptz' })
  createdAt!: Date;

  @Property({ type: 'timestamptz' })
  updatedAt!: Date;

  /** When deleteChannelConfig deleted it; null = live. */
  @Property({ type: 'timestamptz', nullable: true })
  deletedAt?: Date | null;
}
