import type { TemplateLimits } from '../config/templates';
import {
  Channel,
  type ContentValue,
  type NotificationType,
  type RenderedContent,
  type Template,
  type WhatsappTemplate,
} from '../entities';
import { BadUserInputError } from './errors';
import { normalizeUrl } from './input-guard';
import { BODY_LIMIT, MEDIA_LIMIT } from './input-limits';
import { payloadSizeProblem } from './push-payload';
import { RenderSlicer } from './render-slicer';
import { LiquidEngine, limitOf, type LimitKind } from './liquid-engine';
import { variableValueProblem } from './whatsapp-template';

/** A template that cannot render (syntax, a variable the send did not give): permanent, the message ends FAILED. */
export class TemplateError extends Error {
  readonly code: 'TEMPLATE_ERROR' | 'TEMPLATE_LIMIT' = 'TEMPLATE_ERROR';
  constructor(
    message: string,
    /** The template field, e.g. `templates.sms.body`. */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** A render that went over a configured limit: permanent (never retried), the message ends FAILED TEMPLATE_LIMIT. */
export class TemplateLimitError extends TemplateError {
  override readonly code = 'TEMPLATE_LIMIT';
  constructor(
    message: string,
    field: string,
    /** liquidjs's own limits, or `vendor`: the rendered content is more than the channel's vendor takes. */
    readonly limit: LimitKind | 'vendor',
  ) {
    super(message, field);
  }
}

const count = (n: number) => n.toLocaleString('en-US');

/** "rendering exceeded the memory limit of 1,000,000 characters (TEMPLATE_MEMORY_LIMIT)", from the limits in force. */
function describeLimit(kind: LimitKind, limits: TemplateLimits, source: string): string {
  if (kind === 'parse')
    return `the template is ${count(source.length)} characters, over the limit of ${count(limits.parseChars)} (TEMPLATE_PARSE_LIMIT)`;
  if (kind === 'render')
    return `rendering exceeded the time limit of ${count(limits.renderMs)} ms (TEMPLATE_RENDER_LIMIT_MS); loops are too long for the data`;
  return `rendering exceeded the memory limit of ${count(limits.memoryChars)} characters (TEMPLATE_MEMORY_LIMIT); the output or the strings it builds are too large`;
}

const FIELDS_BY_CHANNEL: Record<Channel, (keyof Template)[]> = {
  [Channel.EMAIL]: ['subject', 'text', 'html'],
  [Channel.SMS]: ['body'],
  [Channel.WHATSAPP]: ['body'],
  [Channel.PUSH]: ['title', 'body', 'imageUrl'],
};

/**
 * The content fields a channel's vendor takes. A message keeps only these: a send's explicit content is shared by all
 * its messages, and copying a 900 KB email html into each of 100 push messages ran the worker out of memory.
 */
const CONTENT_FIELDS_BY_CHANNEL: Record<Channel, (keyof RenderedContent)[]> = {
  [Channel.EMAIL]: ['subject', 'text', 'html'],
  [Channel.SMS]: ['body', 'mediaUrls'],
  [Channel.WHATSAPP]: ['body', 'mediaUrls', 'whatsappTemplate'],
  [Channel.PUSH]: ['title', 'body', 'imageUrl', 'data'],
};

function ownContent(channel: Channel, rendered: RenderedContent): RenderedContent {
  // A WhatsApp template is sent alone: Twilio takes no Body or MediaUrl with a ContentSid.
  if (channel === Channel.WHATSAPP && rendered.whatsappTemplate)
    return { whatsappTemplate: rendered.whatsappTemplate };
  const own: Record<string, unknown> = {};
  for (const field of CONTENT_FIELDS_BY_CHANNEL[channel]) {
    if (rendered[field] !== undefined) own[field] = rendered[field];
  }
  return own;
}

/**
 * The vendor's size rule for what will be sent (input-limits.ts, with sources): a rendered template or a fallback
 * message's shared content can exceed what accept checked for the send's own channels. Checked before anything
 * counts segments (Twilio's calculator is quadratic in the body's length).
 * @throws TemplateLimitError (TEMPLATE_LIMIT, permanent) naming the field and the vendor's limit
 */
function assertVendorSize(channel: Channel, content: RenderedContent) {
  const field = `content.${channel.toLowerCase()}.body`;
  const limit = BODY_LIMIT[channel];
  const body = content.body ?? '';
  if (limit && body.length > limit.max)
    throw new TemplateLimitError(
      `${field}: the body is ${count(body.length)} characters, over ${limit.rule} of ${count(limit.max)}`,
      field,
      'vendor',
    );
  const media = MEDIA_LIMIT[channel];
  const given = content.mediaUrls?.length ?? 0;
  if (media && given > media.max)
    throw new TemplateLimitError(
      `content.${channel.toLowerCase()}.mediaUrls: ${given} media, over ${media.max} (${media.rule})`,
      `content.${channel.toLowerCase()}.mediaUrls`,
      'vendor',
    );
  if (channel === Channel.PUSH) {
    // Title, body and image alone (dispatch checks again with the data and the target, push-payload.ts).
    const problem = payloadSizeProblem({ ...content, data: null }, 'token', field);
    if (problem) throw new TemplateLimitError(problem.message, field, 'vendor');
  }
}

/**
 * A template's rendered image URL, held to the rule a send's own `content.imageUrl` meets at accept (normalizeUrl:
 * WHATWG URL Standard, stored and sent as it serialises it). Liquid's surrounding white space is dropped; an empty
 * result (`{% if data.image %}…{% endif %}` without the data) means no image.
 * @throws TemplateError naming `templates.push.imageUrl` when the rendered value is not an absolute http(s) URL
 */
function renderedUrl(value: string, channel: Channel): string | undefined {
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  const field = `templates.${channel.toLowerCase()}.imageUrl`;
  try {
    return normalizeUrl(trimmed, field);
  } catch (error) {
    if (error instanceof BadUserInputError)
      throw new TemplateError(`${error.message} (rendered value)`, field);
    throw error;
  }
}

/** Picks the template for a locale: exact match, then the language, then the type's default (no locale), then any. */
export function pickTemplate(
  type: NotificationType | null | undefined,
  channel: Channel,
  locale?: string | null,
) {
  const candidates = type?.templates.filter((t) => t.channel === channel) ?? [];
  if (candidates.length === 0) return undefined;
  const wanted = locale?.toLowerCase();
  // Locales are canonical BCP 47 tags (normalizeLocale): the first subtag is the primary language (RFC 5646 §2.1).
  const language = wanted?.split('-')[0];
  return (
    (wanted && candidates.find((t) => t.locale?.toLowerCase() === wanted)) ||
    (language && candidates.find((t) => t.locale?.toLowerCase().split('-')[0] === language)) ||
    candidates.find((t) => !t.locale) ||
    candidates[0]
  );
}

/**
 * Whether a WHATSAPP message of this send goes out as an approved template, which WhatsApp delivers at any time:
 * the send's own `content.whatsappTemplate`, else the type's WHATSAPP template (for the recipient's locale) when it
 * names one. Anything else is free-form text, delivered only inside the 24-hour customer service window.
 */
export function isWhatsappTemplateSend(
  type: NotificationType | null | undefined,
  content: ContentValue | null | undefined,
  locale?: string | null,
): boolean {
  if (content?.whatsappTemplate) return true;
  return Boolean(pickTemplate(type, Channel.WHATSAPP, locale)?.whatsappTemplate);
}

/**
 * Liquid rendering with strict variables (a template that reads a variable the send did not give fails loudly)
 * under the configured limits (TEMPLATE_PARSE_LIMIT, TEMPLATE_RENDER_LIMIT_MS, TEMPLATE_MEMORY_LIMIT).
 */
export class TemplateService {
  private readonly engine: LiquidEngine;
  /** One per process: every render of every caller takes its turn here. */
  private readonly slicer = new RenderSlicer();

  constructor(readonly limits: TemplateLimits) {
    this.engine = new LiquidEngine(limits);
  }

  /**
   * The most characters rendering a channel's template of `type` can produce: each of its fields (in any locale) at
   * the render memory limit, which bounds every output. 0 when the type has no template for the channel.
   */
  worstCaseChars(type: NotificationType | null | undefined, channel: Channel): number {
    let fields = 0;
    for (const template of type?.templates ?? []) {
      if (template.channel !== channel) continue;
      const count = FIELDS_BY_CHANNEL[channel].filter((f) => typeof template[f] === 'string').length;
      fields = Math.max(fields, count);
    }
    return fields * this.limits.memoryChars;
  }

  /**
   * Checks that a template parses within the parse limit (when a type is saved).
   * @returns undefined when it does, else the problem prefixed with `field` (for a BAD_USER_INPUT).
   */
  check(source: string, field: string): string | undefined {
    try {
      this.engine.parse(source);
      return undefined;
    } catch (error) {
      const kind = limitOf(error);
      if (kind) return `${field}: ${describeLimit(kind, this.limits, source)}`;
      // Thousands of nested tags overflow the parser's stack (a RangeError it wraps); say what to change.
      if ((error as Error).message.startsWith('Maximum call stack size exceeded'))
        return `${field}: tags are nested too deeply to parse`;
      return `${field}: ${(error as Error).message}`;
    }
  }

  /**
   * Renders the type's template for the channel and locale over `scope` (`{ data, user, ... }`), then lays the
   * send's explicit `content` over it field by field.
   * @throws TemplateLimitError when a field goes over a limit (code TEMPLATE_LIMIT, field `templates.sms.body`);
   *   TemplateError for any other template problem (code TEMPLATE_ERROR). Both are permanent.
   */
  async render(
    type: NotificationType | null | undefined,
    channel: Channel,
    locale: string | null | undefined,
    scope: Record<string, unknown>,
    content: ContentValue | null | undefined,
  ): Promise<RenderedContent> {
    const template = pickTemplate(type, channel, locale);
    const rendered: RenderedContent = {};
    if (template) {
      for (const field of FIELDS_BY_CHANNEL[channel]) {
        const source = template[field];
        if (typeof source !== 'string') continue;
        // One field per job: each holds the event loop for at most TEMPLATE_RENDER_LIMIT_MS, and I/O is served
        // between slices however many renders wait.
        (rendered as Record<string, unknown>)[field] = await this.slicer.run(() =>
          this.renderField(source, scope, channel, field),
        );
      }
      if (typeof rendered.imageUrl === 'string') rendered.imageUrl = renderedUrl(rendered.imageUrl, channel);
      if (channel === Channel.WHATSAPP && template.whatsappTemplate && !content?.whatsappTemplate) {
        rendered.whatsappTemplate = await this.renderWhatsappTemplate(template.whatsappTemplate, scope);
      }
    }
    // Explicit content wins over the template, field by field.
    if (content) {
      for (const [key, value] of Object.entries(content)) {
        if (value !== null && value !== undefined) (rendered as Record<string, unknown>)[key] = value;
      }
    }
    if ((channel === Channel.SMS || channel === Channel.WHATSAPP) && !rendered.body && rendered.text)
      rendered.body = rendered.text;
    if (channel === Channel.PUSH && !rendered.body && rendered.text) rendered.body = rendered.text;
    const own = ownContent(channel, rendered);
    assertVendorSize(channel, own);
    return own;
  }

  /**
   * Renders each Liquid value of a type's WhatsApp template and holds it to Twilio's rules for a variable value.
   * @throws TemplateError naming the variable when a rendered value is empty, too long or has a newline or tab
   *   (Twilio would refuse it with 21656/21658); TemplateLimitError over a render limit
   */
  private async renderWhatsappTemplate(
    template: WhatsappTemplate,
    scope: Record<string, unknown>,
  ): Promise<WhatsappTemplate> {
    const variables: Record<string, string> = {};
    for (const [key, source] of Object.entries(template.contentVariables ?? {})) {
      const field = `whatsappTemplate.contentVariables.${key}`;
      const value = await this.slicer.run(() =>
        this.renderField(String(source), scope, Channel.WHATSAPP, field),
      );
      const problem = variableValueProblem(value);
      if (problem) throw new TemplateError(`templates.whatsapp.${field}: rendered value ${problem}`, field);
      variables[key] = value;
    }
    return {
      contentSid: template.contentSid,
      contentVariables: Object.keys(variables).length > 0 ? variables : null,
    };
  }

  private renderField(
    source: string,
    scope: Record<string, unknown>,
    channel: Channel,
    field: string,
  ): string {
    const name = `templates.${channel.toLowerCase()}.${field}`;
    try {
      return this.engine.render(source, scope);
    } catch (error) {
      const kind = limitOf(error);
      if (kind) {
        throw new TemplateLimitError(`${name}: ${describeLimit(kind, this.limits, source)}`, name, kind);
      }
      throw new TemplateError(
        `template ${channel} ${field}: ${(error as Error).message.split(', line:')[0]}`,
        name,
      );
    }
  }
}
