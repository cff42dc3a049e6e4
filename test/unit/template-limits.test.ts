import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/env';
import { Channel, type NotificationType } from '../../src/entities';
import { TemplateLimitError, TemplateService } from '../../src/services/template.service';

const typeWith = (body: string) =>
  ({ templates: [{ channel: Channel.SMS, body }] }) as unknown as NotificationType;

async function renderError(service: TemplateService, body: string, data: Record<string, unknown> = {}) {
  try {
    await service.render(typeWith(body), Channel.SMS, null, { data, user: {} }, null);
  } catch (error) {
    return error;
  }
  throw new Error('rendered without an error');
}

describe('template limits', () => {
  it('defaults and overrides come from the configuration; zero is refused', () => {
    expect(parseConfig({}).templates).toEqual({ parseChars: 100_000, renderMs: 200, memoryChars: 1_000_000 });
    expect(
      parseConfig({
        TEMPLATE_PARSE_LIMIT: '5000',
        TEMPLATE_RENDER_LIMIT_MS: '50',
        TEMPLATE_MEMORY_LIMIT: '20000',
      }).templates,
    ).toEqual({ parseChars: 5_000, renderMs: 50, memoryChars: 20_000 });
    expect(() => parseConfig({ TEMPLATE_MEMORY_LIMIT: '0' })).toThrow(ConfigError);
  });

  // liquidjs reports its limits only by message: these pin the three, so an upgrade that changes them fails here.
  it('each liquidjs limit is recognised and named with its setting', async () => {
    const tiny = new TemplateService({ parseChars: 20, renderMs: 1, memoryChars: 10 });
    expect(tiny.check('x'.repeat(21), 'body')).toBe(
      'body: the template is 21 characters, over the limit of 20 (TEMPLATE_PARSE_LIMIT)',
    );
    // A render time limit this test cannot reach, so the memory limit is the one hit even on a loaded machine
    // (with renderMs: 1 a slow render once tripped the time limit first).
    const memory = await renderError(
      new TemplateService({ parseChars: 20, renderMs: 60_000, memoryChars: 10 }),
      '{{ "xxxxxxxxxxxx" }}',
    );
    expect(memory).toBeInstanceOf(TemplateLimitError);
    expect(memory).toMatchObject({ code: 'TEMPLATE_LIMIT', limit: 'memory', field: 'templates.sms.body' });
    const time = await renderError(
      new TemplateService({ parseChars: 1_000, renderMs: 1, memoryChars: 1_000_000 }),
      '{% for x in data.a %}{% for y in data.a %}{% endfor %}{% endfor %}',
      { a: Array.from({ length: 3000 }, (_, i) => i) },
    );
    expect(time).toMatchObject({ code: 'TEMPLATE_LIMIT', limit: 'render' });
    expect((time as Error).message).toBe(
      'templates.sms.body: rendering exceeded the time limit of 1 ms (TEMPLATE_RENDER_LIMIT_MS); loops are too long for the data',
    );
  });

  it('a missing variable stays TEMPLATE_ERROR; tags nested too deeply to parse are refused with that reason', async () => {
    const service = new TemplateService({ parseChars: 100_000, renderMs: 200, memoryChars: 1_000_000 });
    expect(await renderError(service, 'Hi {{ data.name }}')).toMatchObject({ code: 'TEMPLATE_ERROR' });
    const deep = '{%if 1%}'.repeat(5_000) + 'x' + '{%endif%}'.repeat(5_000);
    expect(service.check(deep, 'body')).toBe('body: tags are nested too deeply to parse');
  });
});
