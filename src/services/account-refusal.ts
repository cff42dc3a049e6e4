import type { EntityManager } from '@mikro-orm/postgresql';
import { ChannelConfig } from '../entities';
import type { ProviderError } from '../providers/provider.types';

/** A tenant config whose vendor refused its account at send time (ProviderError `details.accountRefused`). */
export interface RefusedConfig {
  channelConfigId: string;
  tenantId: string;
  error: ProviderError;
}

/** Longest vendor message kept on the config: enough to read the vendor's reason, never a whole response body. */
const MAX_ERROR_CHARS = 300;

/** How a refusal recorded at send time begins, so a later successful send clears only those, never an admin's check. */
const REFUSAL_PREFIX = 'refused at send (';

/**
 * What the config's `validation` shows admins: the vendor's code and message. Vendors do not echo the credentials
 * they refuse (Twilio "Authenticate", SendGrid "The provided authorization grant is invalid, expired, or revoked",
 * AWS "The security token included in the request is invalid"), and the message is cut to MAX_ERROR_CHARS.
 */
export function refusalText(error: ProviderError): string {
  const text = `${REFUSAL_PREFIX}${error.code}): ${error.message}`;
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS - 1)}…` : text;
}

/** Whether a config's validation error is a refusal recorded at send time (refusalText). */
export const isRefusalText = (error: string | null | undefined): boolean =>
  typeof error === 'string' && error.startsWith(REFUSAL_PREFIX);

/**
 * Records on each config that its vendor refused the account (validation ok false, checkedAt, error), so admins see
 * it in `channelConfigs`. The config stays active and routed: its circuit keeps messages off it while it refuses, and
 * it comes back by itself when the account is repaired at the vendor. Only the validation columns are written, not
 * `version` (which says the credentials or settings changed and rebuilds the cached adapter: these did not). Cheap:
 * a config already marked `ok: false` is not written again, so a run of refused sends costs one row write.
 */
export async function markAccountsRefused(
  em: EntityManager,
  refused: RefusedConfig[],
  now: Date,
): Promise<void> {
  const seen = new Set<string>();
  for (const { channelConfigId, tenantId, error } of refused) {
    if (seen.has(channelConfigId)) continue;
    seen.add(channelConfigId);
    await em.nativeUpdate(
      ChannelConfig,
      { id: channelConfigId, tenantId, $or: [{ validationOk: true }, { validationOk: null }] },
      { validationOk: false, validationCheckedAt: now, validationError: refusalText(error) },
    );
  }
}

/** A tenant config marked refused at send time that has just sent a message: its account works again. */
export interface RecoveredConfig {
  channelConfigId: string;
  tenantId: string;
}

/**
 * Clears a send-time refusal (validation ok true, error null) once a send through the config succeeded, e.g. after
 * the tenant repaired the account at the vendor and the circuit's trial went through. Only a refusal recorded at
 * send time is cleared; a config whose admin-triggered check failed keeps it.
 */
export async function markAccountsRecovered(
  em: EntityManager,
  recovered: RecoveredConfig[],
  now: Date,
): Promise<void> {
  const seen = new Set<string>();
  for (const { channelConfigId, tenantId } of recovered) {
    if (seen.has(channelConfigId)) continue;
    seen.add(channelConfigId);
    await em.nativeUpdate(
      ChannelConfig,
      {
        id: channelConfigId,
        tenantId,
        validationOk: false,
        validationError: { $like: `${REFUSAL_PREFIX}%` },
      },
      { validationOk: true, validationCheckedAt: now, validationError: null },
    );
  }
}
