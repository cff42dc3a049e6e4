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

/**
 * What the config's `validation` shows admins: the vendor's code and message. Vendors do not echo the credentials
 * they refuse (Twilio "Authenticate", SendGrid "The provided authorization grant is invalid, expired, or revoked",
 * AWS "The security token included in the request is invalid"), and the message is cut to MAX_ERROR_CHARS.
 */
export function refusalText(error: ProviderError): string {
  const text = `refused at send (${error.code}): ${error.message}`;
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS - 1)}…` : text;
}

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
