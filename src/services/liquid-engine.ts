import {
  AssignTag,
  CaptureTag,
  Context,
  Drop,
  Liquid,
  toValueSync,
  type Emitter,
  type Template as LiquidTemplate,
  type Value,
} from 'liquidjs';
import type { TemplateLimits } from '../config/templates';

/**
 * The one Liquid engine configuration of Herald: every template is parsed and rendered here (checked at
 * upsertNotificationType, rendered by previewNotification and at dispatch).
 *
 * Limits are liquidjs's own DoS options (https://liquidjs.com/tutorials/dos.html): `parseLimit` (characters per
 * parse), `renderLimit` (ms per render, checked before every template node and every loop iteration) and
 * `memoryLimit` (characters allocated by filters, ranges and tags, summed over one render). Two gaps of liquidjs
 * are closed here, both charged to the memory limit: the rendered output itself (a loop writing a constant runs
 * no filter) and `{% capture %}` (a capture that doubles itself allocates without any filter).
 *
 * Templates have no file system: `include`, `render` and `layout` are refused when parsing, and the engine's
 * lookup is an empty in-memory map, so no template can read a file of the host.
 *
 * Variables are strict (`strictVariables`): `{{ data.x }}` with no `x` in the send's data is an error, so nobody gets
 * "Hi ," for a forgotten field. Optional data is written explicitly, with liquidjs's `lenientIf`
 * (https://liquidjs.com/api/interfaces/LiquidOptions.html: "a single undefined variable will *not* cause an exception
 * in the context of the `if`/`elsif`/`unless` tag and the `default` filter"): a missing variable is false in
 * `{% if %}`, `{% elsif %}`, `{% unless %}` and `{% case %}`, and nil to a `default` that is the first filter of its
 * output (`{{ data.name | default: "there" }}`). liquidjs also applies
 * `lenientIf` to `{% assign %}`; Herald does not (StrictAssignTag), so `{% assign n = data.x %}{{ n }}` cannot print a
 * blank either.
 */

/** What went over, in the words an operator finds in the configuration. */
export type LimitKind = 'parse' | 'render' | 'memory';

/** The messages of liquidjs's Limiter (`${resource} limit exceeded`), by the resource names it uses. */
const LIMITER_MESSAGES: Record<string, LimitKind> = {
  'parse length limit exceeded': 'parse',
  'template render limit exceeded': 'render',
  'memory alloc limit exceeded': 'memory',
};

/** Which limit an error of liquidjs stands for, if any (it wraps the limiter's assertion in a RenderError). */
export function limitOf(error: unknown): LimitKind | undefined {
  for (let e = error as { message?: unknown; originalError?: unknown } | undefined; e;) {
    if (typeof e.message === 'string') {
      const kind = LIMITER_MESSAGES[e.message.split(', line:')[0]];
      if (kind) return kind;
    }
    e = e.originalError as typeof e | undefined;
  }
  return undefined;
}

/** liquidjs's own stringify (not exported): a Drop's value, nil as '', arrays joined. */
function stringify(value: unknown): string {
  const v: unknown = value instanceof Drop ? value.valueOf() : value;
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(stringify).join('');
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- the same text liquidjs writes for an object
  return String(v);
}

/** Collects the output of one render and charges every character to the render's memory limit before keeping it. */
class ChargedEmitter implements Emitter {
  buffer = '';
  constructor(private readonly context: Context) {}
  write(html: unknown): void {
    const text = stringify(html);
    this.context.memoryLimit.use(text.length);
    this.buffer += text;
  }
}

/** `{% capture %}` as liquidjs has it, with the captured text charged to the memory limit. */
class ChargedCaptureTag extends CaptureTag {
  override *render(ctx: Context): Generator<unknown, void, string> {
    yield* super.render(ctx);
    const captured: unknown = ctx.bottom()[this.variable as keyof ReturnType<Context['bottom']>];
    ctx.memoryLimit.use(typeof captured === 'string' ? captured.length : 0);
  }
}

/**
 * `{% assign %}` as liquidjs has it, but strict: liquidjs evaluates its value leniently under `lenientIf`, which would
 * let a missing variable through as a blank. A `default` first filter stays lenient (liquidjs's Value decides that).
 */
class StrictAssignTag extends AssignTag {
  override *render(ctx: Context): Generator<unknown, void, unknown> {
    // `key` and `value` are liquidjs's own (private in its types); the pinned version's tests cover this tag.
    const own = this as unknown as { key: string; value: Value };
    (ctx.bottom() as Record<string, unknown>)[own.key] = yield own.value.value(ctx, false);
  }
}

const NO_FILES = ['include', 'render', 'layout'] as const;

export class LiquidEngine {
  private readonly liquid: Liquid;

  constructor(readonly limits: TemplateLimits) {
    this.liquid = new Liquid({
      strictVariables: true,
      // Optional data only where the template says so: `if`/`unless`/`case` and a first `default` filter.
      lenientIf: true,
      strictFilters: true,
      ownPropertyOnly: true,
      // An empty in-memory map replaces the file system for every lookup (include, render, layout).
      templates: {},
      parseLimit: limits.parseChars,
      renderLimit: limits.renderMs,
      memoryLimit: limits.memoryChars,
    });
    for (const tag of NO_FILES) {
      this.liquid.registerTag(tag, {
        parse() {
          throw new Error(`{% ${tag} %} is not available: templates have no files to read`);
        },
        render() {
          return '';
        },
      });
    }
    this.liquid.registerTag('capture', ChargedCaptureTag);
    this.liquid.registerTag('assign', StrictAssignTag);
  }

  /** Parses a template; throws liquidjs's error (see limitOf for a limit). */
  parse(source: string): LiquidTemplate[] {
    return this.liquid.parse(source);
  }

  /**
   * Parses and renders synchronously. Synchronous on purpose: renders then never interleave on the event loop, so
   * the render-time limit measures this render alone and a busy worker cannot push a fine template over it.
   */
  render(source: string, scope: Record<string, unknown>): string {
    const templates = this.liquid.parse(source);
    const context = new Context(scope, this.liquid.options, { sync: true }, { liquid: this.liquid });
    const emitter = new ChargedEmitter(context);
    toValueSync(this.liquid.renderer.renderTemplates(templates, context, emitter));
    return emitter.buffer;
  }
}
