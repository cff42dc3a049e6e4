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

  listDevices(caller: Caller, userId: string, includeInactive = false): Promise<Device[]> {
    assertStorable({ userId }, '');
    return this.em().find(
      Device,
      { tenantId: caller.tenantId, userId, ...(includeInactive ? {} : { active: true }) },
      { orderBy: { createdAt: 'asc' } },
    );
  }

  /** Registering a token again (e.g. after a reinstall) moves it to this user and reactivates it. */
  async registerDevice(
    caller: Caller,
    input: { userId: string; token: string; platform?: DevicePlatform | null },
  ): Promise<Device> {
    assertStorable({ input }, '');
    const userId = requireNonEmpty(input.userId, 'input.userId');
    const token = requireNonEmpty(input.token, 'input.token', 4096);
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
    return em.findOneOrFail(Device, { tenantId: caller.tenantId, token }, { refresh: true });
  }

  async unregisterDevice(caller: Caller, tokenInput: string): Promise<boolean> {
    assertStorable({ token: tokenInput }, '');
    const token = requireNonEmpty(tokenInput, 'token', 4096);
    const changed = await this.em().nativeUpdate(
      Device,
      { tenantId: caller.tenantId, token, active: true },
      { active: false, deactivatedReason: 'unregistered', updatedAt: this.deps.clock.now() },
    );
    return changed > 0;
  }
}
