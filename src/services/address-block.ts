import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import { AddressBlock, BlockKind, Channel, SERVICE_WIDE } from '../entities';

/** Why a message to a blocked address ends SUPPRESSED (Message.error.code). */
export const BLOCK_REASON: Record<BlockKind, string> = {
  [BlockKind.SUPPRESSION]: 'suppressed_address',
  [BlockKind.OPT_OUT]: 'opted_out',
};

export interface Block {
  code: string;
  message: string;
}

/** Email addresses compare case-insensitively; phone numbers are E.164 already. */
export const normalizeAddress = (channel: Channel, address: string) =>
  channel === Channel.EMAIL ? address.trim().toLowerCase() : address.trim().replace(/^whatsapp:/, '');

/**
 * Blocks on these addresses that bind `tenantId` (CONTRACT.md "Messages and their statuses", issue 13): those kept
 * under SERVICE_WIDE (a bounce, or a STOP / unsubscribe / complaint received through the service-wide accounts, which
 * every tenant shares and the vendor itself enforces) and those kept under the tenant (received through one of its
 * own channel configs). Another tenant's own blocks never apply. Without `tenantId`, SERVICE_WIDE only.
 */
export async function findBlocks(
  em: EntityManager,
  channel: Channel,
  addresses: string[],
  tenantId?: string,
): Promise<Map<string, Block>> {
  const wanted = [...new Set(addresses.filter(Boolean).map((a) => normalizeAddress(channel, a)))];
  const found = new Map<string, Block>();
  if (wanted.length === 0 || channel === Channel.PUSH) return found;
  const rows = await em.find(
    AddressBlock,
    {
      identity: tenantId && tenantId !== SERVICE_WIDE ? { $in: [SERVICE_WIDE, tenantId] } : SERVICE_WIDE,
      channel,
      address: { $in: wanted },
    },
    { orderBy: { createdAt: 'asc' } },
  );
  for (const row of rows) {
    // An opt-out is the stronger statement: it wins when both exist.
    if (found.has(row.address) && row.kind !== BlockKind.OPT_OUT) continue;
    found.set(row.address, {
      code: BLOCK_REASON[row.kind],
      message: `${channel} ${row.address} is blocked: ${row.reason}`,
    });
  }
  return found;
}

/**
 * Records a block under `identity`: SERVICE_WIDE (the default: every tenant) or a tenant id (that tenant only, for what
 * arrived through its own channel config). Hard bounces are always SERVICE_WIDE: the address does not exist for anyone.
 */
export async function addBlock(
  em: EntityManager,
  block: {
    /** SERVICE_WIDE (default) or the tenant whose own channel config reported it. */
    identity?: string;
    channel: Channel;
    address: string;
    kind: BlockKind;
    reason: string;
    source?: string | null;
    at: Date;
  },
): Promise<void> {
  await em.getConnection().execute(
    `insert into address_block (id, identity, channel, address, kind, reason, source, created_at)
     values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (identity, channel, address, kind) do nothing`,
    [
      randomUUID(),
      block.identity ?? SERVICE_WIDE,
      block.channel,
      normalizeAddress(block.channel, block.address),
      block.kind,
      block.reason,
      block.source ?? null,
      block.at,
    ],
    'run',
    em.getTransactionContext(),
  );
}

export async function removeBlock(
  em: EntityManager,
  channel: Channel,
  address: string,
  kind: BlockKind,
  identity: string = SERVICE_WIDE,
): Promise<number> {
  return em.nativeDelete(AddressBlock, {
    identity,
    channel,
    address: normalizeAddress(channel, address),
    kind,
  });
}
