import { Liquid } from 'liquidjs';
import {
  Channel,
  type ContentValue,
  type NotificationType,
  type RenderedContent,
  type Template,
} from '../entities';

export class TemplateError extends Error {
  readonly code = 'TEMPLATE_ERROR';
}

const FIELDS_BY_CHANNEL: Record<Channel, (keyof Template)[]> = {
  [Channel.EMAIL]: ['subject', 'text', 'html'],
  [Channel.SMS]: ['body'],
  [Channel.WHATSAPP]: ['body'],
  [Channel.PUSH]: ['title', 'body', 'imageUrl'],
};

/** Picks the template for a locale: exact match, then the language, then the type's default (no locale), then any. */
export function pickTemplate(
  type: NotificationType | null | undefined,
  channel: Channel,
  locale?: string | null,
) {
  const candidates = type?.templates.filter((t) => t.channel === channel) ?? [];
  if (candidates.length === 0) return undefined;
  const wanted = locale?.toLowerCase();
  const language = wanted?.split('-')[0];
  return (
    (wanted && candidates.find((t) => t.locale?.toLowerCase() === wanted)) ||
    (language && candidates.find((t) => t.locale?.toLowerCase().split('-')[0] === language)) ||
    candidates.find((t) => !t.locale) ||
    candidates[0]
  );
}

/** Liquid rendering with strict variables: a template that reads a variable the send did not give fails loudly. */
export class TemplateService {
  private readonly liquid = new Liquid({ strictVariables: true, strictFilters: true, cache: 500 });

  /** Throws when a template does not parse (checked when a type is saved). */
  check(source: string, field: string): string | undefined {
    try {
      this.liquid.parse(source);
      return undefined;
    } catch (error) {
      return `${field}: ${(error as Error).message}`;
    }
  }

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
        try {
          (rendered as Record<string, unknown>)[field] = await this.liquid.parseAndRender(source, scope);
        } catch (error) {
          throw new TemplateError(
            `template ${channel} ${field}: ${(error as Error).message.split(', line:')[0]}`,
          );
        }
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
    return rendered;
  }
}
