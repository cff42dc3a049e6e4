import type { EntityManager } from '@mikro-orm/postgresql';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { STARTER_TYPES } from './starter-types';
import {
  Channel,
  type FrequencyCap,
  NotificationCategory,
  NotificationType,
  Priority,
  type RenderedContent,
  type Template,
  type WhatsappTemplate,
} from '../entities';
import { checkWhatsappTemplate } from './whatsapp-template';
import { normalizeLocale, requireDisplayName, requireNonEmpty } from './address-validation';
import { sameJson } from '../domain/same-json';
import { auditSourceOf, recordAudit } from './audit.service';
import { notificationTypeSnapshot } from './audit-snapshots';
import type { Caller, ServiceDeps } from './deps';
import { BadUserInputError } from './errors';
import { pickTemplate, TemplateError, TemplateLimitError, type TemplateService } from './template.service';
import { assertJson, assertMaxLength, assertStorable, quote } from './input-guard';
import { INPUT_LIMITS } from './input-limits';
import { lockTenantTypes } from '../persistence/advisory-locks';
import { LIST_LIMITS, TYPES_PER_TENANT } from './list-limits';

export interface NotificationTypeCommand {
  key: string;
  name?: string | null;
  description?: string | null;
  category?: NotificationCategory | null;
  defaultChannels?: Channel[] | null;
  defaultPriority?: Priority | null;
  templates?: Template[] | null;
  fallbackChannels?: Channel[] | null;
  frequencyCap?: FrequencyCap | null;
}

const TEMPLATE_FIELDS = ['subject', 'text', 'html', 'body', 'title', 'imageUrl'] as const;
const KEY = /^[a-z0-9][a-z0-9_.-]{0,99}$/;

/** Notification types: defaults and Liquid templates per channel × locale. Templates are syntax-checked on save. */
export class NotificationTypeService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly templates: TemplateService,
  ) {}

  /**
   * A type's WhatsApp template: Twilio's rules for the SID and keys (whatsapp-template.ts), and each value a Liquid
   * template that parses (its rendered value is held to Twilio's value rules at send).
   * @throws BadUserInputError naming `input.templates[i].whatsappTemplate…`
   */
  private checkWhatsappTemplate(t: Template, i: number): WhatsappTemplate {
    const field = `input.templates[${i}].whatsappTemplate`;
    if (t.channel !== Channel.WHATSAPP) {
      throw new BadUserInputError(
        `${field}: only a WHATSAPP template can name one (got ${t.channel})`,
        field,
      );
    }
    const checked = checkWhatsappTemplate(t.whatsappTemplate!, field, true);
    if ('problem' in checked) throw new BadUserInputError(checked.problem.message, checked.problem.field);
    for (const [key, source] of Object.entries(checked.value.contentVariables ?? {})) {
      const problem = this.templates.check(
        String(source),
        `${field}.contentVariables[${JSON.stringify(key)}]`,
      );
      if (problem) throw new BadUserInputError(problem, `${field}.contentVariables[${JSON.stringify(key)}]`);
    }
    return checked.value;
  }

  /**
   * Creates or updates a type by key. Every template field must parse within TEMPLATE_PARSE_LIMIT characters.
   * @throws BadUserInputError naming the field (`input.templates[0].body`) and the rule or limit; nothing is stored.
   */
  async upsert(caller: Caller, input: NotificationTypeCommand): Promise<NotificationType> {
    // Templates may be whole HTML emails: each field up to the content cap, not the generic one.
    assertStorable({ input }, '', { maxString: INPUT_LIMITS.contentFieldBytes.max });
    const key = requireNonEmpty(input.key, 'input.key', 100);
    if (!KEY.test(key)) {
      throw new BadUserInputError(
        'input.key: use lowercase letters, digits, "_", "-" or "." (e.g. payment_reminder)',
        'input.key',
      );
    }
    if ((input.templates?.length ?? 0) > LIST_LIMITS.templatesPerType.max) {
      throw new BadUserInputError(
        `input.templates: at most ${LIST_LIMITS.templatesPerType.max} templates per type (got ${input.templates?.length})`,
        'input.templates',
      );
    }
    const templates = (input.templates ?? []).map((t, i) => {
      const template: Template = {
        channel: t.channel,
        locale: t.locale ? normalizeLocale(t.locale, `input.templates[${i}].locale`) : null,
      };
      for (const field of TEMPLATE_FIELDS) {
        const source = t[field];
        if (source === undefined || source === null) continue;
        // The one URL length rule of sends (the scheme is checked on the rendered URL: this may be Liquid).
        if (field === 'imageUrl')
          assertMaxLength(source, `input.templates[${i}].imageUrl`, INPUT_LIMITS.url.max);
        const problem = this.templates.check(source, `input.templates[${i}].${field}`);
        if (problem) throw new BadUserInputError(problem, `input.templates[${i}].${field}`);
        template[field] = source;
      }
      if (t.whatsappTemplate) template.whatsappTemplate = this.checkWhatsappTemplate(t, i);
      if (t.channel === Channel.EMAIL && (!template.subject || !(template.text || template.html))) {
        throw new BadUserInputError(
          `input.templates[${i}]: an EMAIL template needs subject and text or html`,
          `input.templates[${i}]`,
        );
      }
      if (
        (t.channel === Channel.SMS || t.channel === Channel.WHATSAPP) &&
        !template.body &&
        !template.text &&
        !template.whatsappTemplate
      ) {
        throw new BadUserInputError(
          t.channel === Channel.WHATSAPP
            ? `input.templates[${i}].body: required for WHATSAPP unless the template names a whatsappTemplate`
            : `input.templates[${i}].body: required for ${t.channel}`,
          `input.templates[${i}].body`,
        );
      }
      if (t.channel === Channel.PUSH && !template.title && !template.body) {
        throw new BadUserInputError(
          `input.templates[${i}]: a PUSH template needs title or body`,
          `input.templates[${i}]`,
        );
      }
      return template;
    });
    const seen = new Set<string>();
    templates.forEach((t, i) => {
      const id = `${t.channel}:${t.locale ?? ''}`;
      if (seen.has(id))
        throw new BadUserInputError(
          `input.templates[${i}]: a second ${t.channel} template for locale ${quote(t.locale ?? 'default')}`,
          `input.templates[${i}]`,
        );
      seen.add(id);
    });

    const now = this.deps.clock.now();
    const name =
      input.name !== undefined && input.name !== null
        ? requireDisplayName(input.name, 'input.name')
        : undefined;
    if (input.frequencyCap && (!Number.isInteger(input.frequencyCap.limit) || input.frequencyCap.limit < 1)) {
      throw new BadUserInputError(
        'input.frequencyCap.limit: must be a positive integer',
        'input.frequencyCap.limit',
      );
    }
    const em = this.deps.orm.em.fork() as EntityManager;
    // Under the tenant's type lock: two upserts of new keys at once would otherwise both count 199 and both insert,
    // past TYPES_PER_TENANT (the bound notificationTypes and every per-type list are priced at); the transaction's
    // flush commits the new row before the lock is released.
    return em.transactional(async (tx) => {
      await lockTenantTypes(tx, caller.tenantId);
      const existing = await tx.findOne(NotificationType, { tenantId: caller.tenantId, key });
      // notificationTypes and every per-type list (consents, preferences) are priced at this bound (list-limits.ts).
      if (
        !existing &&
        (await tx.count(NotificationType, { tenantId: caller.tenantId })) >= TYPES_PER_TENANT
      ) {
        throw new BadUserInputError(
          `input.key: a tenant has at most ${TYPES_PER_TENANT} notification types; update an existing one`,
          'input.key',
        );
      }
      const before = notificationTypeSnapshot(existing);
      const type =
        existing ??
        tx.create(NotificationType, {
          tenantId: caller.tenantId,
          key,
          name: input.name ?? key,
          category: NotificationCategory.TRANSACTIONAL,
          defaultChannels: [],
          defaultPriority: Priority.MEDIUM,
          templates: [],
          fallbackChannels: [],
          createdAt: now,
          updatedAt: now,
        });
      if (name !== undefined) type.name = name;
      if (input.description !== undefined) type.description = input.description;
      if (input.category) type.category = input.category;
      if (input.defaultChannels) type.defaultChannels = [...new Set(input.defaultChannels)];
      if (input.defaultPriority) type.defaultPriority = input.defaultPriority;
      if (input.templates) type.templates = templates;
      if (input.fallbackChannels) type.fallbackChannels = [...new Set(input.fallbackChannels)];
      if (input.frequencyCap !== undefined) type.frequencyCap = input.frequencyCap ?? null;
      // The same type again changes nothing: no updatedAt, no audit row. The identity map is cleared so the commit's
      // flush writes nothing either (a JSON column re-assigned with equal content can still look dirty).
      if (existing && sameJson(before, notificationTypeSnapshot(type))) {
        tx.clear();
        return type;
      }
      type.updatedAt = now;
      await tx.flush();
      // Templates included: a template change is a type change.
      await recordAudit(tx, {
        tenantId: caller.tenantId,
        ...auditSourceOf(caller),
        entity: 'notificationType',
        entityId: key,
        action: existing ? 'update' : 'create',
        before,
        after: notificationTypeSnapshot(type),
        at: now,
      });
      return type;
    });
  }

  /**
   * Renders a type's template for a channel and locale without sending (locale fallback as at send time).
   * @throws BadUserInputError naming the template field and the limit when a render goes over
   *   TEMPLATE_RENDER_LIMIT_MS or TEMPLATE_MEMORY_LIMIT; naming `data` for any other template problem.
   */
  async preview(
    caller: Caller,
    input: { type: string; channel: Channel; locale?: string | null; data?: Record<string, unknown> | null },
  ): Promise<RenderedContent> {
    assertStorable({ type: input.type, locale: input.locale }, '');
    assertJson(input.data, 'data');
    const key = requireNonEmpty(input.type, 'type', 100);
    const locale = input.locale ? normalizeLocale(input.locale, 'locale') : null;
    const type = await (this.deps.orm.em.fork() as EntityManager).findOne(NotificationType, {
      tenantId: caller.tenantId,
      key,
    });
    if (!type) throw new BadUserInputError(`type: unknown notification type ${quote(key)}`, 'type');
    if (!pickTemplate(type, input.channel, locale)) {
      throw new BadUserInputError(`channel: type ${quote(key)} has no ${input.channel} template`, 'channel');
    }
    try {
      return await this.templates.render(
        type,
        input.channel,
        locale,
        { data: input.data ?? {}, user: {} },
        null,
      );
    } catch (error) {
      // Over a limit: the message names the template field and the limit (and the setting that raises it).
      if (error instanceof TemplateLimitError) throw new BadUserInputError(error.message, error.field);
      if (error instanceof TemplateError) throw new BadUserInputError(`data: ${error.message}`, 'data');
      throw error;
    }
  }

  /** Creates the starter types a tenant lacks; existing ones (and concurrent starts) are left alone. */
  async seedStarterTypes(tenantId: string): Promise<number> {
    const caller: Caller = { tenantId, subject: 'herald', scopes: [], anonymous: true };
    const existing = new Set((await this.list(caller)).map((t) => t.key));
    let created = 0;
    for (const definition of STARTER_TYPES.filter((t) => !existing.has(t.key))) {
      try {
        await this.upsert(caller, definition);
        created += 1;
      } catch (error) {
        if (!(error instanceof UniqueConstraintViolationException)) throw error;
      }
    }
    return created;
  }

  list(caller: Caller): Promise<NotificationType[]> {
    return (this.deps.orm.em.fork() as EntityManager).find(
      NotificationType,
      { tenantId: caller.tenantId },
      { orderBy: { key: 'asc' } },
    );
  }
}
