import type { EntityManager } from '@mikro-orm/postgresql';
import { GraphQLError } from 'graphql';
import {
  ChannelConfig,
  SECRET_FIELDS,
  type ChannelConfigIdentifiers,
  type ChannelConfigSecrets,
  type ChannelConfigSenders,
  type SecretField,
} from '../entities';
import { LockMode } from '@mikro-orm/core';
import {
  ACCOUNT_IDENTIFIERS,
  checkAccount,
  type AccountCheck,
  type TenantAccount,
} from '../providers/account-check';
import {
  checkCommon,
  givenSecrets,
  normalizeAccount,
  parseProvider,
  PROVIDER_CHANNEL,
  withDefaultSenders,
  type ChannelConfigChange,
  type ChannelConfigCreate,
} from './channel-config-input';
import { checkFcmPrivateKey, refuseUnusedFields } from './channel-config-vendor-rules';
import { auditSourceOf, recordAudit, type AuditAction } from './audit.service';
import { channelConfigSnapshot } from './audit-snapshots';
import type { Caller, ServiceDeps } from './deps';
import { lockTenantChannelConfigs } from '../persistence/advisory-locks';
import { BadUserInputError, ConflictError, NotFoundError } from './errors';
import { LIST_LIMITS } from './list-limits';
import { isUuid } from './query.service';
import { runRaw } from '../persistence/raw';
import { sameJson } from '../domain/same-json';
import { channelConfigAad, reencryptChannelConfigs } from './reencrypt-configs';
import { sameSecret, SecretBox, SecretBoxError } from './secret-box';
import { readTenantSettings } from './tenant-settings.service';

/** What every response shows of a config: identifiers and senders in clear, each set secret as exactly `***`. */
export interface ChannelConfigView {
  id: string;
  name: string;
  channel: ChannelConfig['channel'];
  provider: string;
  active: boolean;
  position: number;
  senders: ChannelConfigSenders;
  identifiers: ChannelConfigIdentifiers;
  credentials: Record<SecretField, '***' | null>;
  /** Where the vendor posts this config's callbacks (PUBLIC_URL + /webhooks/…/:configId/…). */
  webhookUrls: string[];
  validation: { ok: boolean | null; checkedAt: Date | null; error: string | null };
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export const MASK = '***';

/** CONFIG_ENCRYPTION_KEY is unset: nothing secret can be stored. */
export class EncryptionKeyMissingError extends GraphQLError {
  constructor() {
    super(
      'channel configs need CONFIG_ENCRYPTION_KEY (kid:base64 32-byte key) to encrypt their credentials; it is not set on this server',
      { extensions: { code: 'PROVIDER_NOT_CONFIGURED' } },
    );
  }
}

const aadOf = channelConfigAad;

/**
 * A tenant's own provider accounts (issue 13): create, read, change and delete them, credentials encrypted at rest
 * and never shown. Create and update ask the vendor whether the account works (providers/account-check.ts); a config
 * that fails is stored **inactive** with the vendor's answer in `validation`, so a typo costs no re-entry of the
 * secrets and nothing is sent through an account that does not work. Activating it later re-checks it.
 */
export class ChannelConfigService {
  readonly box: SecretBox;
  private readonly changeListeners: ((tenantId: string) => void)[] = [];

  constructor(private readonly deps: ServiceDeps) {
    this.box = new SecretBox(deps.config.channelConfigs.keyring);
  }

  private em() {
    return this.deps.orm.em.fork() as EntityManager;
  }

  /** Called with the tenant after each committed create, update or delete (routing forgets its cached order). */
  onChange(listener: (tenantId: string) => void): void {
    this.changeListeners.push(listener);
  }

  private changed(tenantId: string): void {
    for (const listener of this.changeListeners) listener(tenantId);
  }

  async list(caller: Caller): Promise<ChannelConfigView[]> {
    const rows = await this.em().find(
      ChannelConfig,
      { tenantId: caller.tenantId, deletedAt: null },
      { orderBy: { channel: 'asc', position: 'asc', createdAt: 'asc' } },
    );
    return rows.map((row) => this.view(row));
  }

  /** Null for an id that is not the caller's (another tenant's id reads as absent). */
  async get(caller: Caller, id: string): Promise<ChannelConfigView | null> {
    const row = await this.find(this.em(), caller, id);
    return row ? this.view(row) : null;
  }

  async create(caller: Caller, input: ChannelConfigCreate): Promise<ChannelConfigView> {
    if (!this.box.canEncrypt) throw new EncryptionKeyMissingError();
    checkCommon(input);
    const provider = parseProvider(input.provider);
    if (PROVIDER_CHANNEL[provider] !== input.channel) {
      throw new BadUserInputError(
        `input.channel: ${provider} sends ${PROVIDER_CHANNEL[provider]}, not ${input.channel}`,
        'input.channel',
      );
    }
    const em = this.em();
    const { defaultSenders } = await readTenantSettings(em, caller.tenantId);
    refuseUnusedFields(provider, input);
    const account = normalizeAccount(
      provider,
      withDefaultSenders(provider, input.senders ?? {}, defaultSenders),
      input.identifiers ?? {},
      givenSecrets(input.credentials),
    );
    if (provider === 'fcm') checkFcmPrivateKey(account.secrets.privateKey);
    const now = this.deps.clock.now();
    const row = em.create(ChannelConfig, {
      tenantId: caller.tenantId,
      name: input.name.trim().normalize('NFC'),
      channel: input.channel,
      provider,
      active: input.active ?? true,
      position: input.position ?? 0,
      senders: account.senders,
      identifiers: account.identifiers,
      credentials: '',
      secretFields: [],
      version: 1,
      createdAt: now,
      updatedAt: now,
    });
    this.seal(row, account.secrets);
    await this.validate(row, account.secrets);
    // audit: channelConfig create
    await this.audited(em, caller, 'create', row, null);
    this.changed(caller.tenantId);
    return this.view(row);
  }

  /**
   * Applies a change. A change that changes nothing — the same name, position, active flag, senders and identifiers,
   * and secrets equal to the stored ones (compared decrypted, in constant time) — answers the config as it is: no
   * vendor check, no new version or ciphertext, no audit row. Secrets given equal to the stored ones are not a change
   * beside other changes either (not re-sealed, the vendor not asked for them).
   */
  async update(caller: Caller, id: string, input: ChannelConfigChange): Promise<ChannelConfigView> {
    checkCommon(input);
    const em = this.em();
    const row = await this.find(em, caller, id);
    if (!row) throw new NotFoundError(`no channel config ${JSON.stringify(id.slice(0, 100))}`);
    const before = channelConfigSnapshot(row);
    refuseUnusedFields(row.provider, input);
    const given = givenSecrets(input.credentials);
    if (row.provider === 'fcm') checkFcmPrivateKey(given.privateKey);
    // Decrypted only when needed (secrets given, or the vendor asked): a config whose key id was rotated out of
    // CONFIG_ENCRYPTION_KEY can still be renamed, moved, deactivated or given new senders (README "No key"); giving
    // its secrets again repairs it (they cannot be compared, so they count as new).
    const stored = Object.keys(given).length > 0 ? this.storedSecrets(row) : undefined;
    const newSecrets = stored ? changedSecrets(given, stored) : given;
    const givingSecrets = Object.keys(newSecrets).length > 0;
    if (givingSecrets && !this.box.canEncrypt) throw new EncryptionKeyMissingError();
    const secrets = givingSecrets ? { ...(stored ?? {}), ...newSecrets } : this.presentSecrets(row);
    const account = normalizeAccount(
      row.provider,
      { ...row.senders, ...definedOnly(input.senders) },
      { ...row.identifiers, ...definedOnly(input.identifiers) },
      secrets,
    );
    const name =
      input.name !== undefined && input.name !== null ? input.name.trim().normalize('NFC') : row.name;
    const position = input.position ?? row.position;
    const active = input.active ?? row.active;
    // Compared as JSON meaning: jsonb hands the stored objects back with their keys reordered.
    const identifiersChanged = !sameJson(account.identifiers, row.identifiers);
    if (
      !givingSecrets &&
      !identifiersChanged &&
      sameJson(account.senders, row.senders) &&
      name === row.name &&
      position === row.position &&
      active === row.active
    )
      return this.view(row);
    // The vendor's check reads the credentials and the identifiers naming the account, never the senders nor a
    // webhook key: a change to those needs neither the vendor nor the stored secrets (a config whose key id is gone
    // stays active when it is given a new SendGrid webhookPublicKey).
    const accountChanged =
      givingSecrets ||
      ACCOUNT_IDENTIFIERS[row.provider].some(
        (field) => (account.identifiers[field] ?? null) !== (row.identifiers[field] ?? null),
      );
    row.name = name;
    row.position = position;
    const activating = active && !row.active;
    row.active = active;
    row.senders = account.senders;
    row.identifiers = account.identifiers;
    // New secrets are sealed under the current key, so giving them again repairs a config whose key is gone.
    if (givingSecrets) this.seal(row, secrets);
    // The vendor is asked again when what it checks changed, or before an inactive config goes live.
    if (accountChanged || activating)
      await this.validate(row, givingSecrets ? secrets : this.storedSecrets(row));
    row.version += 1;
    row.updatedAt = this.deps.clock.now();
    // audit: channelConfig update
    await this.audited(em, caller, 'update', row, before);
    this.changed(caller.tenantId);
    return this.view(row);
  }

  /**
   * Soft delete: the config is gone from the API (NOT_FOUND, null) and from routing at once, its name is free again,
   * and it cannot be changed; but its webhook paths keep verifying with its own secret and applying the vendor's
   * reports (a send in flight, later deliveries and bounces, a recipient's STOP to its number) for
   * DELETED_CHANNEL_CONFIG_WEBHOOK_DAYS, after which `purgeDeleted` removes the row and its ciphertext.
   */
  async delete(caller: Caller, id: string): Promise<boolean> {
    if (!isUuid(id)) throw new NotFoundError(`no channel config ${JSON.stringify(id.slice(0, 100))}`);
    await this.em().transactional(async (tx) => {
      const row = await tx.findOne(
        ChannelConfig,
        { id, tenantId: caller.tenantId, deletedAt: null },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      if (!row) throw new NotFoundError(`no channel config ${JSON.stringify(id)}`);
      await tx.nativeUpdate(
        ChannelConfig,
        { id, tenantId: caller.tenantId },
        { deletedAt: this.deps.clock.now() },
      );
      // audit: channelConfig delete
      await recordAudit(tx, {
        tenantId: caller.tenantId,
        ...auditSourceOf(caller),
        entity: 'channelConfig',
        entityId: id,
        action: 'delete',
        before: channelConfigSnapshot(row),
        after: null,
      });
    });
    this.changed(caller.tenantId);
    return true;
  }

  /**
   * Writes a created or changed row and its audit row in one transaction (the vendor was asked before it, so no lock
   * is held across the vendor's answer). An update checks inside the transaction that the row is still at the version
   * `before` was read at: a concurrent change in between answers CONFLICT rather than record a wrong `before`.
   */
  private async audited(
    em: EntityManager,
    caller: Caller,
    action: Extract<AuditAction, 'create' | 'update'>,
    row: ChannelConfig,
    before: ReturnType<typeof channelConfigSnapshot>,
  ): Promise<void> {
    await em.begin();
    try {
      if (before) {
        const [current] = await runRaw<{ version: number }>(
          em,
          'select version from channel_config where id = ? and tenant_id = ? and deleted_at is null for update',
          [row.id, caller.tenantId],
        );
        if (!current) throw new NotFoundError(`no channel config ${JSON.stringify(row.id)}`);
        if (current.version !== before.version)
          throw new ConflictError(
            'id: this channel config was changed by another request meanwhile; read it again and retry',
            'id',
          );
      } else {
        // channelConfigs is priced at this bound (list-limits.ts): counted under the tenant's lock.
        await lockTenantChannelConfigs(em, caller.tenantId);
        const max = LIST_LIMITS.channelConfigsPerTenant.max;
        // Raw: em.count would auto-flush the new row first (a duplicate name must reach flushNamed's CONFLICT).
        const [{ count }] = await runRaw<{ count: number }>(
          em,
          'select count(*)::int as count from channel_config where tenant_id = ? and deleted_at is null',
          [caller.tenantId],
        );
        if (count >= max)
          throw new BadUserInputError(
            `input: a tenant has at most ${max} channel configs; delete or update one`,
            'input',
          );
      }
      await this.flushNamed(em, row.name);
      await recordAudit(em, {
        tenantId: caller.tenantId,
        ...auditSourceOf(caller),
        entity: 'channelConfig',
        entityId: row.id,
        action,
        before,
        after: channelConfigSnapshot(row),
        at: row.updatedAt,
      });
      await em.commit();
    } catch (error) {
      await em.rollback();
      throw error;
    }
  }

  /**
   * Whether a config's webhook paths still apply what the vendor reports: a live config always (inactive included),
   * a deleted one for DELETED_CHANNEL_CONFIG_WEBHOOK_DAYS after its deletion.
   */
  webhooksLive(row: ChannelConfig): boolean {
    if (!row.deletedAt) return true;
    return this.deps.clock.now().getTime() < row.deletedAt.getTime() + this.deletedWindowMs();
  }

  private deletedWindowMs(): number {
    return this.deps.config.channelConfigs.deletedWebhookDays * 86_400_000;
  }

  /**
   * Removes the configs deleted more than DELETED_CHANNEL_CONFIG_WEBHOOK_DAYS ago, ciphertext and all (the scheduler
   * calls it each pass; a partial index finds them). Their webhook paths answer 404 from then on; their audit rows
   * and the messages they sent stay. Returns how many were removed.
   */
  async purgeDeleted(): Promise<number> {
    const before = new Date(this.deps.clock.now().getTime() - this.deletedWindowMs());
    const purged = await this.em()
      .getConnection()
      .execute<{ id: string; tenant_id: string }[]>(
        'delete from channel_config where deleted_at is not null and deleted_at <= ? returning id, tenant_id',
        [before],
        'all',
      );
    for (const row of purged)
      this.deps.logger.info(
        { channelConfigId: row.id, tenantId: row.tenant_id },
        'deleted channel config purged: its webhook window is over',
      );
    return purged.length;
  }

  /** The decrypted secrets of a row (adapters, validation, webhook verification); never logged or returned. */
  secretsOf(row: ChannelConfig): ChannelConfigSecrets {
    return JSON.parse(this.box.open(row.credentials, aadOf(row))) as ChannelConfigSecrets;
  }

  /** The stored secrets, or undefined when they cannot be decrypted (their key id is not configured, or tampered). */
  private storedSecrets(row: ChannelConfig): ChannelConfigSecrets | undefined {
    try {
      return this.secretsOf(row);
    } catch (error) {
      if (error instanceof SecretBoxError) return undefined;
      throw error;
    }
  }

  /** Which secrets are set, as placeholders: enough for the "required" checks of a change that keeps them. */
  private presentSecrets(row: ChannelConfig): ChannelConfigSecrets {
    return Object.fromEntries(row.secretFields.map((field) => [field, MASK]));
  }

  /** The key id a row's ciphertext names when that key is not in CONFIG_ENCRYPTION_KEY (routing logs it). */
  missingKeyIdOf(row: ChannelConfig): string | undefined {
    return this.box.missingKeyId(row.credentials);
  }

  /** The row as the provider adapters take it. */
  accountOf(row: ChannelConfig): TenantAccount {
    return {
      provider: row.provider,
      senders: row.senders,
      identifiers: row.identifiers,
      secrets: this.secretsOf(row),
    };
  }

  /** Rewrites every ciphertext with the current key (reencrypt-configs.ts); returns how many rows changed. */
  reencryptAll(batchSize = 100): Promise<number> {
    return reencryptChannelConfigs(this.deps.orm, this.box, batchSize);
  }

  private async find(em: EntityManager, caller: Caller, id: string): Promise<ChannelConfig | null> {
    if (!isUuid(id)) return null;
    return em.findOne(ChannelConfig, { id, tenantId: caller.tenantId, deletedAt: null });
  }

  private seal(row: ChannelConfig, secrets: ChannelConfigSecrets): void {
    row.credentials = this.box.seal(JSON.stringify(secrets), aadOf(row));
    row.secretFields = SECRET_FIELDS.filter((field) => Boolean(secrets[field]));
  }

  /**
   * Asks the vendor; a config that fails is kept inactive. `secrets` undefined: the stored ones cannot be decrypted,
   * which fails the check without asking (the caller gives the credentials again to repair it).
   */
  private async validate(
    row: ChannelConfig,
    secrets: ChannelConfigSecrets | undefined,
  ): Promise<AccountCheck> {
    const { twilio, sendgrid, fcm, aws, dispatch } = this.deps.config;
    const result: AccountCheck = secrets
      ? await checkAccount(
          { provider: row.provider, senders: row.senders, identifiers: row.identifiers, secrets },
          {
            twilioApiUrl: twilio.apiUrl,
            sendgridApiUrl: sendgrid.apiUrl,
            fcmApiUrl: fcm.apiUrl,
            sesApiUrl: aws.sesApiUrl,
            snsApiUrl: aws.snsApiUrl,
            timeoutMs: dispatch.providerTimeoutMs,
          },
        )
      : { ok: false, error: this.unreadableReason(row), checkedWith: 'stored credentials' };
    row.validationOk = result.ok;
    row.validationError = result.error;
    row.validationCheckedAt = this.deps.clock.now();
    if (!result.ok) row.active = false;
    this.deps.logger.info(
      {
        channelConfigId: row.id,
        tenantId: row.tenantId,
        provider: row.provider,
        ok: result.ok,
        checkedWith: result.checkedWith,
      },
      'channel config validated',
    );
    return result;
  }

  /** Why a row's stored credentials cannot be read: names the missing key id, never the ciphertext. */
  private unreadableReason(row: ChannelConfig): string {
    const kid = this.missingKeyIdOf(row);
    const why = kid
      ? `they are encrypted under key "${kid}", which is not in CONFIG_ENCRYPTION_KEY`
      : 'they do not decrypt with CONFIG_ENCRYPTION_KEY';
    return `the stored credentials cannot be read: ${why}; give the credentials again`;
  }

  /** Flushes; a name the tenant already uses answers CONFLICT naming `input.name`. */
  private async flushNamed(em: EntityManager, name: string): Promise<void> {
    try {
      await em.flush();
    } catch (error) {
      if ((error as { code?: string }).code === '23505')
        throw new ConflictError(
          `input.name: this tenant already has a channel config named ${JSON.stringify(name)}`,
          'input.name',
        );
      throw error;
    }
  }

  private view(row: ChannelConfig): ChannelConfigView {
    const base = this.deps.config.server.publicUrl;
    const vendor = row.provider.startsWith('twilio')
      ? 'twilio'
      : row.provider === 'sendgrid'
        ? 'sendgrid'
        : undefined;
    const webhookUrls =
      vendor === 'twilio'
        ? [`${base}/webhooks/twilio/${row.id}/status`, `${base}/webhooks/twilio/${row.id}/inbound`]
        : vendor === 'sendgrid'
          ? [`${base}/webhooks/sendgrid/${row.id}/events`]
          : [];
    return {
      id: row.id,
      name: row.name,
      channel: row.channel,
      provider: row.provider,
      active: row.active,
      position: row.position,
      senders: row.senders,
      identifiers: row.identifiers,
      credentials: Object.fromEntries(
        SECRET_FIELDS.map((field) => [field, row.secretFields.includes(field) ? MASK : null]),
      ) as Record<SecretField, '***' | null>,
      webhookUrls,
      validation: {
        ok: row.validationOk ?? null,
        checkedAt: row.validationCheckedAt ?? null,
        error: row.validationError ?? null,
      },
      version: row.version,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  }
}

/** The given secrets that differ from the stored ones, each compared in constant time (sameSecret). */
function changedSecrets(given: ChannelConfigSecrets, stored: ChannelConfigSecrets): ChannelConfigSecrets {
  const changed: ChannelConfigSecrets = {};
  for (const field of SECRET_FIELDS) {
    const value = given[field];
    if (value !== undefined && !sameSecret(value, stored[field] ?? '')) changed[field] = value;
  }
  return changed;
}

/** The fields of a partial input that were given (null clears an optional field, undefined keeps it). */
function definedOnly<T extends object>(value: T | null | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
