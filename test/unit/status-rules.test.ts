import { describe, expect, it } from 'vitest';
import { MessageStatus, NotificationStatus } from '../../src/entities';
import { backoffMs } from '../../src/services/dispatch.service';
import { rollup } from '../../src/services/message-status';
import { pickTemplate } from '../../src/services/template.service';
import { Channel, NotificationType } from '../../src/entities';

const m = (status: MessageStatus, attempt = 1) => ({ status, attempt });

describe('notification roll-up', () => {
  it.each([
    [[m(MessageStatus.SCHEDULED, 0), m(MessageStatus.SCHEDULED, 0)], NotificationStatus.SCHEDULED],
    [[m(MessageStatus.SCHEDULED, 1)], NotificationStatus.PROCESSING],
    [[m(MessageStatus.QUEUED, 0), m(MessageStatus.SENT)], NotificationStatus.PROCESSING],
    [[m(MessageStatus.SENT), m(MessageStatus.FAILED)], NotificationStatus.COMPLETED],
    [[m(MessageStatus.DELIVERED), m(MessageStatus.SUPPRESSED)], NotificationStatus.COMPLETED],
    [[m(MessageStatus.FAILED), m(MessageStatus.SUPPRESSED)], NotificationStatus.FAILED],
    [[m(MessageStatus.SUPPRESSED), m(MessageStatus.SUPPRESSED)], NotificationStatus.SUPPRESSED],
    [[m(MessageStatus.CANCELLED)], NotificationStatus.CANCELLED],
  ])('%j → %s', (messages, expected) => {
    expect(rollup(messages)).toBe(expected);
  });
});

describe('backoff', () => {
  it('doubles per attempt from the base, capped, and never earlier than Retry-After', () => {
    expect([1, 2, 3, 4].map((a) => backoffMs(a, 1000, 5000))).toEqual([1000, 2000, 4000, 5000]);
    expect(backoffMs(1, 1000, 5000, 30_000)).toBe(30_000);
    expect(backoffMs(3, 1000, 5000, 10)).toBe(4000);
  });
});

describe('template locale choice', () => {
  const type = Object.assign(new NotificationType(), {
    templates: [
      { channel: Channel.EMAIL, locale: null, subject: 'default' },
      { channel: Channel.EMAIL, locale: 'pt', subject: 'pt' },
      { channel: Channel.EMAIL, locale: 'pt-BR', subject: 'pt-BR' },
      { channel: Channel.SMS, locale: 'fr', body: 'fr' },
    ],
  });
  it.each([
    [Channel.EMAIL, 'pt-BR', 'pt-BR'],
    [Channel.EMAIL, 'pt-PT', 'pt'],
    [Channel.EMAIL, 'de-DE', 'default'],
    [Channel.EMAIL, undefined, 'default'],
  ])('%s for %s → %s', (channel, locale, expected) => {
    expect(pickTemplate(type, channel, locale)?.subject).toBe(expected);
  });
  it('falls back to any template of the channel, and to none for a channel without one', () => {
    expect(pickTemplate(type, Channel.SMS, 'en')?.body).toBe('fr');
    expect(pickTemplate(type, Channel.PUSH, 'en')).toBeUndefined();
  });
});
