import { describe, expect, it } from 'vitest';
import { Channel, type NotificationType } from '../../src/entities';
import { TemplateError, TemplateService } from '../../src/services/template.service';

/**
 * Optional template data (issue 12): liquidjs's `lenientIf` with `strictVariables`
 * (https://liquidjs.com/api/interfaces/LiquidOptions.html: "a single undefined variable will *not* cause an exception
 * in the context of the `if`/`elsif`/`unless` tag and the `default` filter"). A plain missing variable stays an error.
 */
const service = new TemplateService({ parseChars: 100_000, renderMs: 1_000, memoryChars: 1_000_000 });
const render = async (body: string, data: Record<string, unknown>) =>
  (
    await service.render(
      { templates: [{ channel: Channel.SMS, body }] } as unknown as NotificationType,
      Channel.SMS,
      null,
      { data, user: {} },
      null,
    )
  ).body;

const ISSUE_TEMPLATE =
  'Hi {{ data.name | default: "there" }}.{% if data.coupon %} Code {{ data.coupon }}{% endif %}';

describe('optional template data: default, if, unless, case', () => {
  it.each([
    [ISSUE_TEMPLATE, {}, 'Hi there.'],
    [ISSUE_TEMPLATE, { name: 'Ann', coupon: 'SAVE10' }, 'Hi Ann. Code SAVE10'],
    [ISSUE_TEMPLATE, { name: '' }, 'Hi there.'],
    ['{% unless data.vip %}Upgrade today{% endunless %}', {}, 'Upgrade today'],
    ['{% if data.a %}a{% elsif data.b %}b{% else %}none{% endif %}', {}, 'none'],
    ['{% if data.order.id %}#{{ data.order.id }}{% else %}no order{% endif %}', {}, 'no order'],
    ['{% case data.tier %}{% when "gold" %}Gold{% else %}Standard{% endcase %}', {}, 'Standard'],
    ['{{ data.name | default: "friend" | upcase }}', {}, 'FRIEND'],
    ['{% assign n = data.name | default: "you" %}Hi {{ n }}', {}, 'Hi you'],
  ])('%j with %j → %j', async (body, data, expected) => {
    expect(await render(body, data)).toBe(expected);
  });

  it.each([
    ['Hi {{ data.name }}', 'data.name'],
    ['{% if data.coupon %}x{% endif %} Code {{ data.coupon }}', 'data.coupon'],
    // `default` is lenient only as the first filter: a filter before it runs on the missing value.
    ['{{ data.name | upcase | default: "x" }}', 'data.name'],
    // liquidjs would assign a missing variable leniently; Herald keeps assign strict, so no blank gets printed.
    ['{% assign n = data.name %}Hi {{ n }}', 'data.name'],
    ['{% for item in data.items %}{{ item }}{% endfor %}', 'data.items'],
  ])('%j with no data is still TEMPLATE_ERROR naming %s', async (body, variable) => {
    const error = await render(body, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemplateError);
    expect(error).toMatchObject({ code: 'TEMPLATE_ERROR', field: 'templates.sms.body' });
    expect((error as Error).message).toContain(`undefined variable: ${variable}`);
  });
});
