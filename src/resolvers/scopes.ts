import { isObjectType, type GraphQLSchema } from 'graphql';
import type { Caller } from '../services';
import { ForbiddenError } from '../services/errors';

/**
 * The permission scopes of a token (CONTRACT.md "Configuration"). `admin` implies each of them; `service` only marks
 * a backend caller for rate limiting and is never implied (nor required by any operation).
 */
export const PERMISSION_SCOPES = [
  'communication:send',
  'communication:read',
  'preferences:manage',
  'consent:manage',
  'analytics:read',
  'admin',
] as const;

export type Scope = (typeof PERMISSION_SCOPES)[number];

/** A caller holding ANY of these scopes may run the operation; an empty list needs a valid token only. */
export type ScopeRule = readonly Scope[];

const SEND: ScopeRule = ['communication:send'];
const READ: ScopeRule = ['communication:read'];
const PREFERENCES: ScopeRule = ['preferences:manage'];
const CONSENT: ScopeRule = ['consent:manage'];
const ADMIN: ScopeRule = ['admin'];
const TOKEN_ONLY: ScopeRule = [];

/**
 * Every operation, every comms field of the federated `User` and every entity reference, with the scopes that allow
 * it (the issue's scope table; README "Security"). Keys are `Type.field` as in a resolvers map. The schema build
 * refuses a Query/Mutation/Subscription field or `User` field without a row here, so nothing ships unguarded.
 */
export const OPERATION_SCOPES: Readonly<Record<string, ScopeRule>> = {
  'Mutation.sendNotification': SEND,
  'Mutation.sendNotifications': SEND,
  'Mutation.cancelNotification': SEND,

  'Query.notification': READ,
  'Query.message': READ,
  'Query.notifications': READ,
  'Query.providers': READ,
  'Query.notificationTypes': READ,
  'Query.previewNotification': READ,
  'Query.optimalSendTime': READ,
  'Subscription.messageStatusChanged': READ,
  // The comms fields of User, however the User was reached (through a gateway's `_entities` too).
  'User.contact': READ,
  'User.devices': READ,
  'User.consents': READ,
  'User.consentHistory': READ,
  'User.notificationPreferences': READ,
  'User.notifications': READ,
  'Notification.__resolveReference': READ,
  'Message.__resolveReference': READ,

  'Mutation.updateContact': PREFERENCES,
  'Mutation.registerDevice': PREFERENCES,
  'Mutation.unregisterDevice': PREFERENCES,
  'Mutation.updateNotificationPreferences': PREFERENCES,
  'Mutation.resetNotificationPreferences': PREFERENCES,

  'Mutation.grantConsent': CONSENT,
  'Mutation.verifyConsent': CONSENT,
  'Mutation.revokeConsent': CONSENT,
  'Query.checkConsent': ['consent:manage', 'communication:read'],

  'Mutation.upsertNotificationType': ADMIN,
  'Query.tenantSettings': ADMIN,
  'Mutation.updateTenantSettings': ADMIN,
  'Query.channelConfigs': ADMIN,
  'Query.channelConfig': ADMIN,
  'Mutation.createChannelConfig': ADMIN,
  'Mutation.updateChannelConfig': ADMIN,
  'Mutation.deleteChannelConfig': ADMIN,
  'Query.auditLog': ADMIN,

  // A User reference carries only the id the gateway sent; its comms fields are guarded one by one above.
  'User.__resolveReference': TOKEN_ONLY,
  // Federation: gateways compose with `_service { sdl }`; `_entities` defers to the references above.
  'Query._service': TOKEN_ONLY,
  'Query._entities': TOKEN_ONLY,
};

/** Whether the caller's scopes satisfy the rule: one of its scopes held, or `admin`. */
export function isAllowed(scopes: readonly string[], rule: ScopeRule): boolean {
  return rule.length === 0 || scopes.includes('admin') || rule.some((scope) => scopes.includes(scope));
}

/** Throws FORBIDDEN (`<operation> needs scope "a" or "b"`) unless the caller may run the operation. */
export function requireScope(caller: Caller, operation: string, rule: ScopeRule): void {
  if (isAllowed(caller.scopes, rule)) return;
  throw new ForbiddenError(`${operation} needs scope ${rule.map((scope) => `"${scope}"`).join(' or ')}`);
}

/** The types whose fields must each have a rule: the root types and the federated User (id excepted). */
const GUARDED_TYPES = ['Query', 'Mutation', 'Subscription', 'User'];
const FREE_FIELDS = new Set(['User.id']);

/** `Type.field` of every guarded field in the schema that has no row in OPERATION_SCOPES. */
export function fieldsWithoutScopeRule(schema: GraphQLSchema): string[] {
  return GUARDED_TYPES.flatMap((typeName) => {
    const type = schema.getType(typeName);
    if (!isObjectType(type)) return [];
    return Object.keys(type.getFields())
      .map((field) => `${typeName}.${field}`)
      .filter((key) => !FREE_FIELDS.has(key) && !(key in OPERATION_SCOPES));
  });
}
