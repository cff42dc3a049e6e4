import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import {
  Channel,
  type ChannelPreference,
  ContactInfo,
  Frequency,
  NotificationPreferences,
  NotificationType,
  type QuietHours,
  type TypePreference,
} from '../entities';
import { requireNonEmpty } from './address-validation';
import { sameJson } from '../domain/same-json';
import { auditSourceOf, recordAudit } from './audit.service';
import { preferencesSnapshot } from './audit-snapshots';
import type { Caller, ServiceDeps } from './deps';
import { BadUserInputError } from './errors';
import { LIST_LIMITS } from './list-limits';
import { nextAllowedMoment, parseLocalTime } from './schedule-rules';
import { assertStorable } from './input-guard';

export interface PreferencesCommand {
  channels?: ChannelPreference[] | null;
  types?: TypePreference[] | null;
  quietHours?: QuietHours | null;
  frequency?: Frequency | null;
  preferredSmsTime?: string | null;
  preferredEmailDay?: number | null;
  segment?: string | null;
}

const ALL_CHANNELS = Object.values(Channel);

/** Merges entries by key: later ones win, untouched ones stay (a partial update). */
const merge = <T>(current: T[], changes: T[], key: (t: T) => string) => {
  const byKey = new Map(current.map((t) => [key(t), t]));
  for (const change of changes) byKey.set(key(change), change);
  return [...byKey.values()];
};

/** A user's notification preferences: partial updates, and a reset to defaults derived from the types. */
export class PreferencesService {
  constructor(private readonly deps: ServiceDeps) {}

  private em() {
    return this.deps.orm.em.fork() as EntityManager;
  }

  /** The defaults: every channel on, each type on for its default channels, no quiet hours, IMMEDIATE. */
  private async defaults(
    em: EntityManager,
    tenantId: string,
    userId: string,
  ): Promise<NotificationPreferences> {
    const types = await em.find(NotificationType, { tenantId }, { orderBy: { key: 'asc' } });
    return em.create(
      NotificationPreferences,
      {
        tenantId,
        userId,
        channels: ALL_CHANNELS.map((channel) => ({ channel, enabled: true })),
        types: types.flatMap((t) =>
          t.defaultChannels.map((channel) => ({ type: t.key, channel, enabled: true })),
        ),
        quietHours: null,
        frequency: Frequency.IMMEDIATE,
        preferredSmsTime: null,
        preferredEmailDay: null,
        segment: null,
        updatedAt: this.deps.clock.now(),
      },
      { persist: false },
    );
  }

  async get(caller: Caller, userId: string): Promise<NotificationPreferences> {
    assertStorable({ userId }, '');
    const em = this.em();
    return (
      (await em.findOne(NotificationPreferences, { tenantId: caller.tenantId, userId })) ??
      this.defaults(em, caller.tenantId, userId)
    );
  }

  private validate(input: PreferencesCommand) {
    if (input.quietHours) {
      parseLocalTime(input.quietHours.start, 'input.quietHours.start');
      parseLocalTime(input.quietHours.end, 'input.quietHours.end');
    }
    if (input.preferredSmsTime) parseLocalTime(input.preferredSmsTime, 'input.preferredSmsTime');
    const day = input.preferredEmailDay;
    if (day !== undefined && day !== null && (!Number.isInteger(day) || day < 1 || day > 7)) {
      throw new BadUserInputError(
        'input.preferredEmailDay: must be an ISO weekday, 1 (Monday) to 7 (Sunday)',
        'input.preferredEmailDay',
      );
    }
    input.types?.forEach((t, i) => requireNonEmpty(t.type, `input.types[${i}].type`, 100));
  }

  /**
   * Reads the user's preferences locked (or the defaults), lets `change` edit them, stores them and writes one audit
   * row (entity `preferences`, id = user id) with the document before and after, in one transaction. Stored
   * preferences that `change` leaves as they were, and a reset of a user with none stored, are answered as they are:
   * nothing written, no audit row.
   */
  private async change(
    caller: Caller,
    userId: string,
    action: 'update' | 'reset',
    change: (em: EntityManager, current: NotificationPreferences) => Promise<NotificationPreferences>,
  ): Promise<NotificationPreferences> {
    return this.em().transactional(async (tx) => {
      const existing = await tx.findOne(
        NotificationPreferences,
        { tenantId: caller.tenantId, userId },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      const before = preferencesSnapshot(existing);
      const prefs = await change(tx, existing ?? (await this.defaults(tx, caller.tenantId, userId)));
      // The same document again changes nothing: no write, no updatedAt, no audit row (the identity map is cleared so
      // the commit's flush writes nothing either).
      if (existing && sameJson(before, preferencesSnapshot(prefs))) {
        tx.clear();
        return prefs;
      }
      // A reset of a user who has no stored preferences: they already follow the defaults, so nothing changes and
      // nothing is written (no row pinning today's defaults, no audit row with before null).
      if (!existing && action === 'reset') {
        tx.clear();
        return prefs;
      }
      prefs.updatedAt = this.deps.clock.now();
      await tx.upsert(
        NotificationPreferences,
        { ...prefs, id: prefs.id ?? randomUUID() },
        {
          onConflictFields: ['tenantId', 'userId'],
          onConflictAction: 'merge',
          onConflictExcludeFields: ['id'],
        },
      );
      const saved = (await tx.findOne(
        NotificationPreferences,
        { tenantId: caller.tenantId, userId },
        { refresh: true },
      ))!;
      await recordAudit(tx, {
        tenantId: caller.tenantId,
        ...auditSourceOf(caller),
        entity: 'preferences',
        entityId: userId,
        action,
        before,
        after: preferencesSnapshot(saved),
        at: prefs.updatedAt,
      });
      return saved;
    });
  }

  /** Only what the input names changes; channels and type entries merge by key. */
  async update(
    caller: Caller,
    userIdInput: string,
    input: PreferencesCommand,
  ): Promise<NotificationPreferences> {
    assertStorable({ userId: userIdInput, input }, '');
    const userId = requireNonEmpty(userIdInput, 'userId');
    this.validate(input);
    return this.change(caller, userId, 'update', (_tx, prefs) => {
      if (input.channels) prefs.channels = merge(prefs.channels, input.channels, (c) => c.channel);
      if (input.types) prefs.types = merge(prefs.types, input.types, (t) => `${t.type}:${t.channel}`);
      // Type keys need not exist yet, so the list is capped here (NotificationPreferences.types is priced at it).
      if (prefs.types.length > LIST_LIMITS.preferenceTypes.max) {
        throw new BadUserInputError(
          `input.types: at most ${LIST_LIMITS.preferenceTypes.max} type × channel preferences per user (would be ${prefs.types.length})`,
          'input.types',
        );
      }
      if (input.quietHours !== undefined) prefs.quietHours = input.quietHours;
      if (input.frequency) prefs.frequency = input.frequency;
      if (input.preferredSmsTime !== undefined) prefs.preferredSmsTime = input.preferredSmsTime;
      if (input.preferredEmailDay !== undefined) prefs.preferredEmailDay = input.preferredEmailDay;
      if (input.segment !== undefined) prefs.segment = input.segment;
      return Promise.resolve(prefs);
    });
  }

  async reset(caller: Caller, userIdInput: string): Promise<NotificationPreferences> {
    assertStorable({ userId: userIdInput }, '');
    const userId = requireNonEmpty(userIdInput, 'userId');
    return this.change(caller, userId, 'reset', async (tx, current) => {
      const defaults = await this.defaults(tx, caller.tenantId, userId);
      if (current.id) defaults.id = current.id;
      return defaults;
    });
  }

  /** The next allowed moment to reach the user on a channel (rule in schedule-rules.ts nextAllowedMoment). */
  async optimalSendTime(caller: Caller, userId: string, channel: Channel): Promise<Date> {
    assertStorable({ userId }, '');
    const em = this.em();
    const [prefs, contact] = await Promise.all([
      em.findOne(NotificationPreferences, { tenantId: caller.tenantId, userId }),
      em.findOne(ContactInfo, { tenantId: caller.tenantId, userId }),
    ]);
    return nextAllowedMoment(this.deps.clock.now(), channel, contact?.timezone, prefs ?? {});
  }
}
