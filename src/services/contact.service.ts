import { randomUUID } from 'node:crypto';
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

/** A user's contact points and devices. A field left out is kept; a field set to null is cleared. */
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
    const em = this.em();
    const now = this.deps.clock.now();
    await em.upsert(
      ContactInfo,
      { id: randomUUID(), tenantId: caller.tenantId, userId, ...changes, createdAt: now, updatedAt: now },
      {
        onConflictFields: ['tenantId', 'userId'],
        onConflictAction: 'merge',
        onConflictMergeFields: [...(Object.keys(changes) as (keyof ContactInfo)[]), 'updatedAt'],
      },
    );
    return em.findOneOrFail(ContactInfo, { tenantId: caller.tenantId, userId }, { refresh: true });
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
    const em = this.em();
    const now = this.deps.clock.now();
    await em.upsert(
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
    await this.retireBeyondLimit(em, caller.tenantId, userId, token);
    return em.findOneOrFail(Device, { tenantId: caller.tenantId, token }, { refresh: true });
  }

  /**
   * Keeps a user at INPUT_LIMITS.activeDevicesPerUser active devices: the least recently registered beyond it are
   * deactivated (reason `device_limit`), since a send without `to` fans out to every active device. A stale token is
   * the likely one to go (apps get new tokens on reinstall), and the user's new device always works.
   */
  private async retireBeyondLimit(
    em: EntityManager,
    tenantId: string,
    userId: string,
    keep: string,
  ): Promise<void> {
    // The device just registered is kept whatever the clock says (equal timestamps under a fixed clock).
    const beyond = await em.find(
      Device,
      { tenantId, userId, active: true, token: { $ne: keep } },
      {
        fields: ['id'],
        orderBy: { updatedAt: 'desc', id: 'desc' },
        offset: INPUT_LIMITS.activeDevicesPerUser.max - 1,
        limit: 1_000,
      },
    );
    if (beyond.length === 0) return;
    await em.nativeUpdate(
      Device,
      { tenantId, id: { $in: beyond.map((d) => d.id) }, active: true },
      { active: false, deactivatedReason: 'device_limit', updatedAt: this.deps.clock.now() },
    );
  }

  async unregisterDevice(caller: Caller, tokenInput: string): Promise<boolean> {
    assertStorable({ token: tokenInput }, '');
    const token = requireNonEmpty(tokenInput, 'token', 4096, INPUT_LIMITS.deviceTokenBytes.max);
    const changed = await this.em().nativeUpdate(
      Device,
      { tenantId: caller.tenantId, token, active: true },
      { active: false, deactivatedReason: 'unregistered', updatedAt: this.deps.clock.now() },
    );
    return changed > 0;
  }
}
