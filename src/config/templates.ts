import { z } from 'zod';
import { intWithDefault } from './zod-helpers';

/**
 * Limits on Liquid templates (liquidjs's own DoS limits: parseLimit, renderLimit, memoryLimit; see
 * https://liquidjs.com/tutorials/dos.html). Parsed by env.ts, which owns process.env.
 */
export const templateModel = z.object({
  /** Longest template source, per field (characters); checked when a type is saved and again at every render. */
  TEMPLATE_PARSE_LIMIT: intWithDefault(100_000, 1),
  /** Longest a single render may take (ms of wall time, checked between template nodes and loop iterations). */
  TEMPLATE_RENDER_LIMIT_MS: intWithDefault(200, 1),
  /** Characters one render may allocate: every string a filter, range, capture or output creates, summed. */
  TEMPLATE_MEMORY_LIMIT: intWithDefault(1_000_000, 1),
});

export interface TemplateLimits {
  /** Characters per template field. */
  parseChars: number;
  /** Milliseconds per render of one field. */
  renderMs: number;
  /** Characters allocated per render of one field, the rendered output included (so it also caps the output). */
  memoryChars: number;
}

export const templateLimits = (parsed: z.infer<typeof templateModel>): TemplateLimits => ({
  parseChars: parsed.TEMPLATE_PARSE_LIMIT,
  renderMs: parsed.TEMPLATE_RENDER_LIMIT_MS,
  memoryChars: parsed.TEMPLATE_MEMORY_LIMIT,
});
