import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import {
  Channel,
  Consent,
  ConsentEvent,
  ConsentStatus,
  ConsentVerification,
  ContactInfo,
  NotificationType,
  Priority,
  WHOLE_CHANNEL,
} from '../entities';
import { UNSUBSCRIBE_LINK_ACTOR } from '../domain/audit-actors';
import { normalizeEmail, normalizePhone, requireNonEmpty } from './address-validation';
import { auditSourceOf } from './audit.service';
import { recordConsent } from './consent-ledger';
import { contactAddress } from './contact-address';
import type { Caller, ServiceDeps } from './deps';
import { BadUserInputError } from './errors';
import { LIST_LIMITS } from './list-limits';
import type { NotificationService } from './notification.service';
import { pickTemplate } from './template.service';
import { readUnsubscribeToken } from './unsubscribe-token';
import { assertStorable, quote } from './input-guard';

export interface ConsentProof {
  ip?: string | null;
  userAgent?: string | null;
  text?: string | null;
  version?: string | null;
}

export interface GrantCommand {
  userId: string;
  channel: Channel;
  types?: string[] | null;
  address?: string | null;
  source: string;
  proof?: ConsentProof | null;
}

const CODE_TTL_MS = 10 * 60_000;
const CODE_TRIES = 5;
export const VERIFICATION_TYPE = 'consent_verification';

const DOUBLE_OPT_IN = new Set([Channel.SMS, Channel.WHATSAPP]);
const hashCode = (salt: string, code: string) => createHash('sha256').update(`${salt}:${code}`).digest('hex');

/** The consent ledger's API: grants (double opt-in for SMS and WhatsApp), verification, revocation, history. */
export class ConsentService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly notifications: NotificationService,
  ) {}

  private em() {
    return this.deps.orm.em.fork() as EntityManager;
  }

  private async typeKeys(
    em: EntityManager,
    tenantId: string,
    types: string[] | null | undefined,
  ): Promise<(string | null)[]> {
    if (!types?.length) return [null];
    const keys = [...new Set(types.map((t, i) => requireNonEmpty(t, `input.types[${i}]`, 100)))];
    const known = new Set(
      (await em.find(NotificationType, { tenantId, key: { $in: keys } })).map((t) => t.key),
    );
    const unknown = keys.find((k) => !known.has(k));
    if (unknown)
      throw new BadUserInputError(`input.types: unknown notification type ${quote(unknown)}`, 'input.types');
    return keys;
  }

  private async addressFor(
    em: EntityManager,
    tenantId: string,
    userId: string,
    channel: Channel,
    given?: string | null,
  ) {
    const contact = await em.findOne(ContactInfo, { tenantId, userId });
    // WhatsApp consent falls back to the phone number: it is usually the same one.
    const raw =
      given ??
      contactAddress(contact, channel) ??
      (channel === Channel.WHATSAPP ? contact?.phone : undefined);
    if (!raw) {
      if (DOUBLE_OPT_IN.has(channel)) {
        throw new BadUserInputError(
          `input.address: ${channel} consent needs a number to verify; give input.address or store one with updateContact`,
          'input.address',
        );
      }
      return null;
    }
    if (channel === Channel.EMAIL) return normalizeEmail(raw, 'input.address');
    if (channel === Channel.PUSH) return raw;
    return normalizePhone(raw, 'input.address');
  }

  private async current(
    em: EntityManager,
    tenantId: string,
    userId: string,
    channel: Channel,
    keys: (string | null)[],
  ) {
    return em.find(
      Consent,
      { tenantId, userId, channel, typeKey: { $in: keys.map((k) => k ?? WHOLE_CHANNEL) } },
      { refresh: true, orderBy: { typeKey: 'asc' } },
    );
  }

  async grant(caller: Caller, input: GrantCommand): Promise<Consent[]> {
    assertStorable({ input }, '');
    const userId = requireNonEmpty(input.userId, 'input.userId');
    const source = requireNonEmpty(input.source, 'input.source', 100);
    const em = this.em();
    const keys = await this.typeKeys(em, caller.tenantId, input.types);
    const address = await this.addressFor(em, caller.tenantId, userId, input.channel, input.address);
    const now = this.deps.clock.now();
    const proof = input.proof ? { ...input.proof } : null;
    const pending = DOUBLE_OPT_IN.has(input.channel);
    // The code is a business-initiated WhatsApp message: refused before anything is stored when it could not go out.
    if (input.channel === Channel.WHATSAPP) {
      await this.notifications.assertWhatsappWindow(
        { tenantId: caller.tenantId, userId, typeKey: VERIFICATION_TYPE, number: address! },
        'input.address',
      );
    }
    let code: string | undefined;
    await em.transactional(async (tx) => {
      for (const typeKey of keys) {
        await recordConsent(tx, {
          tenantId: caller.tenantId,
          userId,
          channel: input.channel,
          typeKey,
          action: 'GRANT',
          status: pending ? ConsentStatus.PENDING_VERIFICATION : ConsentStatus.GRANTED,
          source,
          proof,
          address,
          at: now,
          audit: auditSourceOf(caller),
        });
      }
      if (!pending) return;
      // A new grant replaces any code still outstanding for this channel.
      await tx.nativeUpdate(
        ConsentVerification,
        { tenantId: caller.tenantId, userId, channel: input.channel, state: 'PENDING' },
        { state: 'SUPERSEDED' },
      );
      code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      const salt = randomBytes(16).toString('hex');
      tx.persist(
        tx.create(ConsentVerification, {
          tenantId: caller.tenantId,
          userId,
          channel: input.channel,
          address: address!,
          typeKeys: keys.map((k) => k ?? WHOLE_CHANNEL),
          codeHash: hashCode(salt, code),
          salt,
          expiresAt: new Date(now.getTime() + CODE_TTL_MS),
          attemptsLeft: CODE_TRIES,
          state: 'PENDING',
          proof,
          source,
          createdAt: now,
        }),
      );
    });
    if (code) await this.sendCode(caller, userId, input.channel, address!, code);
    return this.current(this.em(), caller.tenantId, userId, input.channel, keys);
  }

  /** The code goes out through Herald's own pipeline, as a CRITICAL transactional message. */
  private async sendCode(caller: Caller, userId: string, channel: Channel, address: string, code: string) {
    const type = await this.em().findOne(NotificationType, {
      tenantId: caller.tenantId,
      key: VERIFICATION_TYPE,
    });
    await this.notifications.send(caller, {
      userId,
      type: VERIFICATION_TYPE,
      channels: [channel],
      priority: Priority.CRITICAL,
      data: { code, minutes: CODE_TTL_MS / 60_000 },
      to: channel === Channel.WHATSAPP ? { whatsapp: address } : { phone: address },
      content: pickTemplate(type, channel)
        ? null
        : { body: `Your verification code is ${code}. It expires in ${CODE_TTL_MS / 60_000} minutes.` },
    });
  }

  /**
   * Checks a consent code. The pending verification is read FOR UPDATE in the transaction that counts the try, so
   * wrong codes sent at once are counted one after another: CODE_TRIES of them lock it, whatever the concurrency (a
   * read-then-write without the lock let every concurrent guess see the same tries left).
   */
  async verify(
    caller: Caller,
    input: { userId: string; channel: Channel; code: string },
  ): Promise<Consent[]> {
    assertStorable({ input }, '');
    const userId = requireNonEmpty(input.userId, 'input.userId');
    const code = input.code.trim();
    const em = this.em();
    const now = this.deps.clock.now();
    // A refusal is returned from the transaction, not thrown in it, so the try it counted is committed.
    const outcome = await em.transactional(
      async (tx): Promise<{ refused: BadUserInputError } | { verified: ConsentVerification }> => {
        const verification = await tx.findOne(
          ConsentVerification,
          { tenantId: caller.tenantId, userId, channel: input.channel, state: 'PENDING' },
          { orderBy: { createdAt: 'desc' }, lockMode: LockMode.PESSIMISTIC_WRITE },
        );
        if (!verification)
          return {
            refused: new BadUserInputError(
              `input.code: no ${input.channel} verification is pending for this user; grant consent first`,
              'input.code',
            ),
          };
        const log = (action: string, reason: string) =>
          recordConsent(tx, {
            tenantId: caller.tenantId,
            userId,
            channel: input.channel,
            typeKey: verification.typeKeys[0] === WHOLE_CHANNEL ? null : verification.typeKeys[0],
            action,
            reason,
            address: verification.address,
            at: now,
            audit: auditSourceOf(caller),
          });
        if (verification.expiresAt <= now) {
          verification.state = 'EXPIRED';
          await log('EXPIRED', 'the code expired');
          return {
            refused: new BadUserInputError(
              'input.code: the code has expired; request a new one with grantConsent',
              'input.code',
            ),
          };
        }
        const expected = Buffer.from(verification.codeHash, 'hex');
        const given = Buffer.from(hashCode(verification.salt, code), 'hex');
        if (!timingSafeEqual(expected, given)) {
          verification.attemptsLeft -= 1;
          const locked = verification.attemptsLeft <= 0;
          if (locked) verification.state = 'LOCKED';
          await log(locked ? 'LOCKED' : 'VERIFY_FAILED', locked ? 'too many wrong codes' : 'wrong code');
          return {
            refused: new BadUserInputError(
              locked
                ? 'input.code: too many wrong codes; this verification is locked, request a new one with grantConsent'
                : `input.code: wrong code; ${verification.attemptsLeft} tries left`,
              'input.code',
            ),
          };
        }
        verification.state = 'VERIFIED';
        for (const typeKey of verification.typeKeys) {
          await recordConsent(tx, {
            tenantId: caller.tenantId,
            userId,
            channel: input.channel,
            typeKey: typeKey === WHOLE_CHANNEL ? null : typeKey,
            action: 'VERIFY',
            status: ConsentStatus.GRANTED,
            source: verification.source,
            proof: verification.proof,
            address: verification.address,
            at: now,
            audit: auditSourceOf(caller),
          });
        }
        return { verified: verification };
      },
    );
    if ('refused' in outcome) throw outcome.refused;
    return this.current(
      this.em(),
      caller.tenantId,
      userId,
      input.channel,
      outcome.verified.typeKeys.map((k) => (k === WHOLE_CHANNEL ? null : k)),
    );
  }

  /** Without types it opts the user out of the whole channel, transactional and critical included. */
  async revoke(
    caller: Caller,
    input: { userId: string; channel: Channel; types?: string[] | null; reason?: string | null },
  ): Promise<Consent[]> {
    assertStorable({ input }, '');
    const userId = requireNonEmpty(input.userId, 'input.userId');
    const em = this.em();
    const keys = await this.typeKeys(em, caller.tenantId, input.types);
    const now = this.deps.clock.now();
    await em.transactional(async (tx) => {
      for (const typeKey of keys) {
        await recordConsent(tx, {
          tenantId: caller.tenantId,
          userId,
          channel: input.channel,
          typeKey,
          action: 'REVOKE',
          status: ConsentStatus.REVOKED,
          source: 'api',
          reason: input.reason ?? null,
          at: now,
          audit: auditSourceOf(caller),
        });
      }
    });
    return this.current(this.em(), caller.tenantId, userId, input.channel, keys);
  }

  /**
   * The one-click unsubscribe of a marketing email: revokes consent for its type. False for a bad token. Audited with
   * actor `unsubscribe-link` and the HTTP request's id.
   */
  async unsubscribe(token: string, source = 'one_click', requestId: string | null = null): Promise<boolean> {
    const claim = readUnsubscribeToken(this.deps.config.auth.unsubscribeSecret, token);
    if (!claim) return false;
    const em = this.em();
    await em.transactional((tx) =>
      recordConsent(tx, {
        tenantId: claim.tenantId,
        userId: claim.userId,
        channel: Channel.EMAIL,
        typeKey: claim.typeKey,
        action: 'REVOKE',
        status: ConsentStatus.REVOKED,
        source,
        reason: `List-Unsubscribe (message ${claim.messageId})`,
        address: claim.address,
        at: this.deps.clock.now(),
        audit: { actor: UNSUBSCRIBE_LINK_ACTOR, requestId },
      }),
    );
    return true;
  }

  list(caller: Caller, userId: string): Promise<Consent[]> {
    assertStorable({ userId }, '');
    return this.em().find(
      Consent,
      { tenantId: caller.tenantId, userId },
      { orderBy: { channel: 'asc', typeKey: 'asc' } },
    );
  }

  /** The newest LIST_LIMITS.consentHistoryListed ledger entries in the order they were applied (the ledger only grows). */
  async history(caller: Caller, userId: string): Promise<ConsentEvent[]> {
    assertStorable({ userId }, '');
    const newest = await this.em().find(
      ConsentEvent,
      { tenantId: caller.tenantId, userId },
      // Applied order (finding 4): seq is taken at the insert, which recordConsent's flush makes after the consent
      // row's upsert took its lock; occurredAt is read before the lock, so a grant and a revoke racing listed in the
      // other order than the one that left the current status. recordedAt could tie within one flush.
      {
        orderBy: { seq: 'desc' },
        limit: LIST_LIMITS.consentHistoryListed.max,
      },
    );
    return newest.reverse();
  }
}
