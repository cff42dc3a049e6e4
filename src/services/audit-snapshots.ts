import type {
  ChannelConfig,
  ContactInfo,
  Device,
  NotificationPreferences,
  NotificationType,
  TenantSettings,
} from '../entities';

/**
 * The JSON an audit row keeps of each entity (before/after): what a person changed, without ids, tenant or
 * bookkeeping timestamps, and never a secret. A device keeps only the last 8 characters of its push token: enough to
 * tell devices apart, not enough to address one.
 */

/** A user's contact points. */
export const contactSnapshot = (c: ContactInfo | null | undefined) =>
  c
    ? {
        userId: c.userId,
        email: c.email ?? null,
        phone: c.phone ?? null,
        whatsapp: c.whatsapp ?? null,
        locale: c.locale ?? null,
        timezone: c.timezone ?? null,
      }
    : null;

/** A push device. */
export const deviceSnapshot = (d: Device | null | undefined) =>
  d
    ? {
        userId: d.userId,
        tokenSuffix: d.token.slice(-8),
        platform: d.platform ?? null,
        active: d.active,
        deactivatedReason: d.deactivatedReason ?? null,
      }
    : null;

/** A user's preferences (the whole document: channels, type matrix, quiet hours…). */
export const preferencesSnapshot = (p: NotificationPreferences | null | undefined) =>
  p
    ? {
        userId: p.userId,
        // Copies: the entity's arrays may be edited after this snapshot, in the same transaction.
        channels: p.channels.map((c) => ({ ...c })),
        types: p.types.map((t) => ({ ...t })),
        quietHours: p.quietHours ? { ...p.quietHours } : null,
        frequency: p.frequency,
        preferredSmsTime: p.preferredSmsTime ?? null,
        preferredEmailDay: p.preferredEmailDay ?? null,
        segment: p.segment ?? null,
      }
    : null;

/** A notification type, its templates included. */
export const notificationTypeSnapshot = (t: NotificationType | null | undefined) =>
  t
    ? {
        key: t.key,
        name: t.name,
        description: t.description ?? null,
        category: t.category,
        defaultChannels: [...t.defaultChannels],
        defaultPriority: t.defaultPriority,
        templates: t.templates.map((template) => ({ ...template })),
        fallbackChannels: [...(t.fallbackChannels ?? [])],
        frequencyCap: t.frequencyCap ?? null,
      }
    : null;

/** A tenant's settings (budgets, time zone, senders, retention, shared providers). */
export const tenantSettingsSnapshot = (s: TenantSettings | null | undefined) =>
  s
    ? {
        dailyBudget: s.dailyBudget ?? null,
        monthlyBudget: s.monthlyBudget ?? null,
        criticalBypassesBudget: s.criticalBypassesBudget ?? null,
        timezone: s.timezone ?? null,
        defaultSenders: s.defaultSenders ?? null,
        dataRetentionDays: s.dataRetentionDays ?? null,
        auditRetentionDays: s.auditRetentionDays ?? null,
        useSharedProviders: s.useSharedProviders,
      }
    : null;

/**
 * A tenant's channel config: senders and identifiers in clear, each set secret as exactly `***` (never the secret,
 * never its ciphertext), the vendor's last validation verdict.
 */
export const channelConfigSnapshot = (c: ChannelConfig | null | undefined) =>
  c
    ? {
        name: c.name,
        channel: c.channel,
        provider: c.provider,
        active: c.active,
        position: c.position,
        senders: { ...c.senders },
        identifiers: { ...c.identifiers },
        credentials: Object.fromEntries(c.secretFields.map((field) => [field, '***'])),
        validationOk: c.validationOk ?? null,
        validationError: c.validationError ?? null,
        version: c.version,
      }
    : null;
