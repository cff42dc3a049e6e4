import { randomUUID } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { DevicePlatform } from '../entities';
import { ContactInfo, Device } from '../entities';
import {
  normalizeEmail,
  normalizeLocale,
  normalizePhone,
  normalizeTimezone,
  requireNonEmpty,
} from './address-validation';
import { auditSourceOf, recordAudit } from './audit.service';
import { contactSnapshot, deviceSnapshot } from './audit-snapshots';
import type { Caller, ServiceDeps } from './deps';
import { assertStorable } from './input-guard';
import { INPUT_LIMITS } from './input-limits';
import { LIST_LIMITS } from './list-limits';

export interface ContactCommand {
  email?: string | null;
  phone?: string | null;
  whatsapp?: string | null;
  locale?: string | null;
  timezone?: string | null;
}

/**
 * A user's contact points and devices. A field left out is kept; a field set to null is cleared. Every change writes
 * an audit row in its transaction: entity `contact` (id = user id), `device` (id = device id; the token only by its
 * last 8 characters).
 */
export class ContactService {
  constructor(private readonly deps: ServiceDeps) {}

  private em() {
    return this.deps.orm.em.fork() as EntityManager;
  }

  async updateContact(caller: Caller, userIdInput: string, input: ContactCommand): Promise<ContactInfo> {
    assertStorable({ userId: userIdInput, input }, '');
    const userId = requireNonEmpty(userIdInput, 'userId');
    const changes: Partial<ContactInfo> = {};
    const set = <K extends keyof ContactCommand>(key: K, normalize: (v: string, field: string) => string) => {
      const value = input[key];
      if (value === undefined) return;
      (changes as Record<string, unknown>)[key] =
        value === null || value.trim() === '' ? null : normalize(value, `input.${key}`);
    };
    set('email', normalizeEmail);
    set('phone', normalizePhone);
    set('whatsapp', normalizePhone);
    set('locale', normalizeLocale);
    set('timezone', normalizeTimezone);
    const now = this.deps.clock.now();
    return this.em().transactional(async (tx) => {
      const existing = await tx.findOne(
        ContactInfo,
        { tenantId: caller.tenantId, userId },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      const before = contactSnapshot(existing);
      // The same contact points again change nothing: no write, no updatedAt, no audit row.
      const stored = existing as Record<string, unknown> | null;
      if (stored && Object.entries(changes).every(([field, value]) => (stored[field] ?? null) === value))
        return existing!;
      await tx.upsert(
        ContactInfo,
        { id: randomUUID(), tenantId: caller.tenantId, userId, ...changes, createdAt: now, updatedAt: now },
        {
          onConflictFields: ['tenantId', 'userId'],
          onConflictAction: 'merge',
          onConflictMergeFields: [...(Object.keys(changes) as (keyof ContactInfo)[]), 'updatedAt'],
        },
      );
      const saved = await tx.findOneOrFail(
        ContactInfo,
        { tenantId: caller.tenantId, userId },
        { refresh: true },
      );
      await recordAudit(tx, {
        tenantId: caller.tenantId,
        ...auditSourceOf(caller),
        entity: 'contact',
        entityId: userId,
        action: before ? 'update' : 'create',
        before,
        after: contactSnapshot(saved),
        at: now,
      });
      return saved;
    });
  }

  getContact(caller: Caller, userId: string): Promise<ContactInfo | null> {
    assertStorable({ userId }, '');
    return this.em().findOne(ContactInfo, { tenantId: caller.tenantId, userId });
  }

  async listDevices(caller: Caller, userId: string, includeInactive = false): Promise<Device[]> {
    assertStorable({ userId }, '');
    // Inactive devices accumulate without bound: at most LIST_LIMITS.devicesListed, active ones first, then the
    // newest, answered oldest first.
    const devices = await this.em().find(
      Device,
      { tenantId: caller.tenantId, userId, ...(includeInactive ? {} : { active: true }) },
      { orderBy: { active: 'desc', createdAt: 'desc', id: 'desc' }, limit: LIST_LIMITS.devicesListed.max },
    );
    return devices.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
  }

  /** Registering a token again (e.g. after a reinstall) moves it to this user and reactivates it. */
  async registerDevice(
    caller: Caller,
    input: { userId: string; token: string; platform?: DevicePlatform | null },
  ): Promise<Device> {
    assertStorable({ input }, '');
    const userId = requireNonEmpty(input.userId, 'input.userId');
    const token = requireNonEmpty(input.token, 'input.token', 4096, INPUT_LIMITS.deviceTokenBytes.max);
    const now = this.deps.clock.now();
    return this.em().transactional(async (tx) => {
      const existing = await tx.findOne(
        Device,
        { tenantId: caller.tenantId, token },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      const before = deviceSnapshot(existing);
      await tx.upsert(
        Device,
        {
          id: randomUUID(),
          tenantId: caller.tenantId,
          userId,
          token,
          platform: input.platform ?? null,
          active: true,
          deactivatedReason: null,
          createdAt: now,
          updatedAt: now,
        },
        {
          onConflictFields: ['tenantId', 'token'],
          onConflictAction: 'merge',
          onConflictMergeFields: ['userId', 'platform', 'active', 'deactivatedReason', 'updatedAt'],
        },
      );
      const saved = await tx.findOneOrFail(Device, { tenantId: caller.tenantId, token }, { refresh: true });
      await recordAudit(tx, {
        tenantId: caller.tenantId,
        ...auditSourceOf(caller),
        entity: 'device',
        entityId: saved.id,
        action: 'register',
        before,
        after: deviceSnapshot(saved),
        at: now,
      });
      await this.retireBeyondLimit(tx, caller, userId, token);
      return saved;
    });
  }

  /**
   * Keeps a user at INPUT_LIMITS.activeDevicesPerUser active devices: the least recently registered beyond it are
   * deactivated (reason `device_limit`), since a send without `to` fans out to every active device. A stale token is
   * the likely one to go (apps get new tokens on reinstall), and the user's new device always works.
   */
  private async retireBeyondLimit(
    tx: EntityManager,
    caller: Caller,
    userId: string,
    keep: string,
  ): Promise<void> {
    // The device just registered is kept whatever the clock says (equal timestamps under a fixed clock).
    const beyond = await tx.find(
      Device,
      { tenantId: caller.tenantId, userId, active: true, token: { $ne: keep } },
      {
        orderBy: { updatedAt: 'desc', id: 'desc' },
        offset: INPUT_LIMITS.activeDevicesPerUser.max - 1,
        limit: 1_000,
        lockMode: LockMode.PESSIMISTIC_WRITE,
      },
    );
    if (beyond.length === 0) return;
    const now = this.deps.clock.now();
    for (const device of beyond) await this.deactivate(tx, caller, device, 'device_limit', now);
  }

  /** Marks one device inactive with `reason` and writes its audit row (`unregister` or `deactivate`). */
  private async deactivate(tx: EntityManager, caller: Caller, device: Device, reason: string, now: Date) {
    const before = deviceSnapshot(device);
    await tx.nativeUpdate(
      Device,
      { tenantId: caller.tenantId, id: device.id },
      { active: false, deactivatedReason: reason, updatedAt: now },
    );
    await recordAudit(tx, {
      tenantId: caller.tenantId,
      ...auditSourceOf(caller),
      entity: 'device',
      entityId: device.id,
      action: reason === 'unregistered' ? 'unregister' : 'deactivate',
      before,
      after: { ...before, active: false, deactivatedReason: reason },
      at: now,
    });
  }

  async unregisterDevice(caller: Caller, tokenInput: string): Promise<boolean> {
    assertStorable({ token: tokenInput }, '');
    const token = requireNonEmpty(tokenInput, 'token', 4096, INPUT_LIMITS.deviceTokenBytes.max);
    return this.em().transactional(async (tx) => {
      const device = await tx.findOne(
        Device,
        { tenantId: caller.tenantId, token, active: true },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      if (!device) return false;
      await this.deactivate(tx, caller, device, 'unregistered', this.deps.clock.now());
      return true;
    });
  }
}
