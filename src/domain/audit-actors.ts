/**
 * The actors Herald itself writes to the audit trail (`audit_log.actor`) for changes a vendor or a recipient made,
 * beside the token subjects (`sub`) of GraphQL callers. Pure: no I/O.
 *
 * A token whose subject reads as one of them is refused at authentication (src/server/auth.ts), so `auditLog(filter:
 * { actor: "webhook:twilio" })` and the JSON-lines export only ever show what the vendor or recipient did, never a
 * caller posing as them.
 */

/** Prefixes of system actors: `webhook:<provider>` (a signed webhook), `provider:<vendor>` (a refusal at send). */
export const SYSTEM_ACTOR_PREFIXES = ['webhook:', 'provider:'] as const;

/** Whole system actors: `unsubscribe-link` (a recipient's List-Unsubscribe link). */
export const SYSTEM_ACTORS = ['unsubscribe-link'] as const;

/** The actor of a change a vendor's signed webhook made: `webhook:twilio`, `webhook:sendgrid`, … */
export const webhookActor = (provider: string): string => `${SYSTEM_ACTOR_PREFIXES[0]}${provider}`;

/** The actor of a change a vendor's refusal at send made (Twilio 21610, FCM UNREGISTERED): `provider:twilio`, … */
export const providerActor = (vendor: 'twilio' | 'fcm'): string => `${SYSTEM_ACTOR_PREFIXES[1]}${vendor}`;

/** The actor of an opt-out through a message's unsubscribe link. */
export const UNSUBSCRIBE_LINK_ACTOR: (typeof SYSTEM_ACTORS)[number] = 'unsubscribe-link';

/**
 * Whether a name reads as a system actor once trimmed, in any case: it starts with one of SYSTEM_ACTOR_PREFIXES or is
 * one of SYSTEM_ACTORS (`Webhook:Twilio`, ` unsubscribe-link `; not `webhooks-bot` nor `unsubscribe-link-admin`).
 */
export function isSystemActorName(name: string): boolean {
  const folded = name.trim().toLowerCase();
  return (
    SYSTEM_ACTOR_PREFIXES.some((prefix) => folded.startsWith(prefix)) ||
    (SYSTEM_ACTORS as readonly string[]).includes(folded)
  );
}
