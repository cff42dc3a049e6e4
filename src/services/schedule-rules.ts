import { DateTime } from 'luxon';
import { Channel } from '../entities/enums';
import { BadUserInputError } from './errors';
import { quote } from './input-guard';

export interface LocalTime {
  hour: number;
  minute: number;
}

/**
 * A local time of day in ISO 8601's extended format `hh:mm` on the 24-hour clock (hours 00–23, minutes 00–59; "24:00"
 * and seconds are refused): the `start`/`end` of quiet hours and `preferredSmsTime`.
 * @throws BadUserInputError naming `field`.
 */
export function parseLocalTime(value: string, field: string): LocalTime {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(value.trim());
  if (!match)
    throw new BadUserInputError(`${field}: ${quote(value)} is not a 24-hour time like "22:00"`, field);
  return { hour: Number(match[1]), minute: Number(match[2]) };
}

const at = (local: DateTime, time: LocalTime) =>
  local.set({ hour: time.hour, minute: time.minute, second: 0, millisecond: 0 });

/** A valid IANA zone, else UTC: the user's contact info may not say. */
const zoned = (now: Date, timezone: string | null | undefined) => {
  const local = DateTime.fromJSDate(now, { zone: timezone || 'UTC' });
  return local.isValid ? local : DateTime.fromJSDate(now, { zone: 'UTC' });
};

/**
 * When `now` falls inside the quiet window (local to the user's timezone; a window may cross midnight), the moment
 * it ends; otherwise undefined. A window whose start equals its end is no window.
 */
export function quietWindowEnd(
  now: Date,
  timezone: string | null | undefined,
  quiet: { start: string; end: string } | null | undefined,
): Date | undefined {
  if (!quiet) return undefined;
  const start = parseLocalTime(quiet.start, 'quietHours.start');
  const end = parseLocalTime(quiet.end, 'quietHours.end');
  const local = zoned(now, timezone);
  const minutes = local.hour * 60 + local.minute;
  const from = start.hour * 60 + start.minute;
  const to = end.hour * 60 + end.minute;
  if (from === to) return undefined;
  if (from < to) return minutes >= from && minutes < to ? at(local, end).toJSDate() : undefined;
  if (minutes >= from) return at(local.plus({ days: 1 }), end).toJSDate();
  if (minutes < to) return at(local, end).toJSDate();
  return undefined;
}

export type Period = 'HOUR' | 'DAY' | 'WEEK';

/** The calendar hour, day or ISO week (Monday first) around `now`, in the user's timezone. */
export function periodWindow(
  now: Date,
  timezone: string | null | undefined,
  period: Period,
): { start: Date; end: Date } {
  const unit = period === 'HOUR' ? 'hour' : period === 'DAY' ? 'day' : 'week';
  const start = zoned(now, timezone).startOf(unit);
  return { start: start.toJSDate(), end: start.plus({ [`${unit}s`]: 1 }).toJSDate() };
}

const EMAIL_HOUR: LocalTime = { hour: 9, minute: 0 };

/**
 * The next moment to reach a user on a channel (optimalSendTime):
 * - SMS and WhatsApp with a preferred time: the next occurrence of that local time (today if still ahead);
 * - email with a preferred ISO weekday: now if today is that day (09:00 if earlier), else 09:00 on the next one;
 * - otherwise now;
 * then, if that moment falls inside quiet hours, the end of the quiet window.
 */
export function nextAllowedMoment(
  now: Date,
  channel: Channel,
  timezone: string | null | undefined,
  preferences: {
    quietHours?: { start: string; end: string } | null;
    preferredSmsTime?: string | null;
    preferredEmailDay?: number | null;
  },
): Date {
  const local = zoned(now, timezone);
  let candidate = local;
  if ((channel === Channel.SMS || channel === Channel.WHATSAPP) && preferences.preferredSmsTime) {
    const preferred = at(local, parseLocalTime(preferences.preferredSmsTime, 'preferredSmsTime'));
    candidate = preferred < local ? preferred.plus({ days: 1 }) : preferred;
  } else if (channel === Channel.EMAIL && preferences.preferredEmailDay) {
    const days = (preferences.preferredEmailDay - local.weekday + 7) % 7;
    const nine = at(local.plus({ days }), EMAIL_HOUR);
    candidate = days === 0 && local >= nine ? local : nine;
  }
  const moment = candidate.toJSDate();
  return quietWindowEnd(moment, timezone, preferences.quietHours) ?? moment;
}
