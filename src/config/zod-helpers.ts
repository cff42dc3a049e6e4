import { z } from 'zod';

/** The small zod building blocks every config model uses: an empty variable counts as unset. */
export const blankToUndefined = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;
export const optionalString = z.preprocess(blankToUndefined, z.string().optional());
export const optionalUrl = z.preprocess(blankToUndefined, z.url({ protocol: /^https?$/ }).optional());
export const intWithDefault = (fallback: number, min = 0) =>
  z.preprocess(blankToUndefined, z.coerce.number().int().min(min).default(fallback));

export type ChannelMode = 'live' | 'sandbox' | 'disabled';
