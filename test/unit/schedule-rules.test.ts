import { describe, expect, it } from 'vitest';
import { Channel } from '../../src/entities';
import { nextAllowedMoment, periodWindow, quietWindowEnd } from '../../src/services/schedule-rules';

const SAO_PAULO = 'America/Sao_Paulo'; // UTC-3, no DST
const iso = (d: Date | undefined) => d?.toISOString();

describe('quiet hours in the user timezone', () => {
  const quiet = { start: '22:00', end: '08:00' };
  it.each([
    ['2030-01-15T01:30:00Z', '2030-01-15T11:00:00.000Z'], // 22:30 local → 08:00 local next day
    ['2030-01-15T09:00:00Z', '2030-01-15T11:00:00.000Z'], // 06:00 local → 08:00 local same day
    ['2030-01-15T12:00:00Z', undefined], // 09:00 local → outside
    ['2030-01-15T00:59:00Z', undefined], // 21:59 local → outside
  ])('at %s → %s', (now, end) => {
    expect(iso(quietWindowEnd(new Date(now), SAO_PAULO, quiet))).toBe(end);
  });

  it('handles a same-day window and an empty one', () => {
    expect(
      iso(quietWindowEnd(new Date('2030-01-15T15:00:00Z'), 'UTC', { start: '13:00', end: '16:30' })),
    ).toBe('2030-01-15T16:30:00.000Z');
    expect(
      quietWindowEnd(new Date('2030-01-15T15:00:00Z'), 'UTC', { start: '13:00', end: '13:00' }),
    ).toBeUndefined();
  });
});

describe('period windows', () => {
  it('are calendar hour, day and ISO week in the user timezone', () => {
    const now = new Date('2030-01-16T02:00:00Z'); // Tue 23:00 in São Paulo (Wed 02:00 UTC)
    expect(periodWindow(now, SAO_PAULO, 'DAY')).toEqual({
      start: new Date('2030-01-15T03:00:00Z'),
      end: new Date('2030-01-16T03:00:00Z'),
    });
    expect(periodWindow(now, SAO_PAULO, 'WEEK').start).toEqual(new Date('2030-01-14T03:00:00Z'));
    expect(periodWindow(now, SAO_PAULO, 'HOUR')).toEqual({
      start: new Date('2030-01-16T02:00:00Z'),
      end: new Date('2030-01-16T03:00:00Z'),
    });
  });
});

describe('optimalSendTime rule', () => {
  const now = new Date('2030-01-15T12:00:00Z'); // Tuesday 09:00 in São Paulo
  it('SMS: the next preferred local time, then out of quiet hours', () => {
    expect(iso(nextAllowedMoment(now, Channel.SMS, SAO_PAULO, { preferredSmsTime: '18:30' }))).toBe(
      '2030-01-15T21:30:00.000Z',
    );
    expect(iso(nextAllowedMoment(now, Channel.SMS, SAO_PAULO, { preferredSmsTime: '08:00' }))).toBe(
      '2030-01-16T11:00:00.000Z',
    );
    expect(
      iso(
        nextAllowedMoment(now, Channel.SMS, SAO_PAULO, {
          preferredSmsTime: '23:00',
          quietHours: { start: '22:00', end: '07:00' },
        }),
      ),
    ).toBe('2030-01-16T10:00:00.000Z');
  });
  it('email: the preferred weekday at 09:00, or now on that day', () => {
    expect(iso(nextAllowedMoment(now, Channel.EMAIL, SAO_PAULO, { preferredEmailDay: 4 }))).toBe(
      '2030-01-17T12:00:00.000Z',
    );
    expect(
      iso(
        nextAllowedMoment(new Date('2030-01-15T15:00:00Z'), Channel.EMAIL, SAO_PAULO, {
          preferredEmailDay: 2,
        }),
      ),
    ).toBe('2030-01-15T15:00:00.000Z');
  });
  it('push, or no preferences: now, unless inside quiet hours', () => {
    expect(iso(nextAllowedMoment(now, Channel.PUSH, SAO_PAULO, {}))).toBe(iso(now));
    expect(
      iso(nextAllowedMoment(now, Channel.PUSH, SAO_PAULO, { quietHours: { start: '08:00', end: '10:00' } })),
    ).toBe('2030-01-15T13:00:00.000Z');
  });
});
