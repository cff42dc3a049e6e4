import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { BlockKind, Channel, ConsentStatus, Device, SERVICE_WIDE, type Message } from '../entities';
import { providerActor } from '../domain/audit-actors';
import { ProviderError } from '../providers/provider.types';
import { addBlock } from './address-block';
import { recordAudit } from './audit.service';
import { deviceSnapshot } from './audit-snapshots';
import { recordConsent } from './consent-ledger';

/**
 * What a permanent vendor refusal teaches beyond this message: Twilio 21610 means the recipient replied STOP to our
 * sender (record the opt-out so nothing else is tried); FCM UNREGISTERED means the app was removed from the device.
 */
export async function applyFailureEffects(
  tx: EntityManager,
  message: Message,
  error: unknown,
  now: Date,
): Promise<void> {
  if (!(error instanceof ProviderError)) return;
  if (error.code === '21610') {
    await addBlock(tx, {
      // Twilio keeps a STOP per sending account: through a tenant's own config it binds that tenant only (issue 13).
      identity: message.channelConfigId ? message.tenantId : SERVICE_WIDE,
      channel: message.channel,
      address: message.to,
      kind: BlockKind.OPT_OUT,
      reason: '21610',
      source: message.id,
      at: now,
    });
    await recordConsent(tx, {
      tenantId: message.tenantId,
      userId: message.userId,
      channel: message.channel,
      action: 'REVOKE',
      status: ConsentStatus.REVOKED,
      source: 'twilio',
      reason: '21610',
      address: message.to,
      at: now,
      // Twilio refused the send because the number had replied STOP: the change is the vendor's, found at send.
      audit: { actor: providerActor('twilio'), requestId: null },
    });
  }
  if (error.code === 'UNREGISTERED' && message.channel === Channel.PUSH) {
    const device = await tx.findOne(
      Device,
      { tenantId: message.tenantId, token: message.to },
      { lockMode: LockMode.PESSIMISTIC_WRITE },
    );
    if (!device) return;
    const before = deviceSnapshot(device);
    await tx.nativeUpdate(
      Device,
      { tenantId: message.tenantId, id: device.id },
      { active: false, deactivatedReason: 'UNREGISTERED', updatedAt: now },
    );
    // FCM said the app is gone from the device: the change is the vendor's, found at send.
    await recordAudit(tx, {
      tenantId: message.tenantId,
      actor: providerActor('fcm'),
      requestId: null,
      entity: 'device',
      entityId: device.id,
      action: 'deactivate',
      before,
      after: { ...before, active: false, deactivatedReason: 'UNREGISTERED' },
      at: now,
    });
  }
}
