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
 * Characters Unicode says to draw as nothing (Default_Ignorable_Code_Point, UCD DerivedCoreProperties.txt): the
 * format characters, and beyond them variation selectors (U+FE00–FE0F), the combining grapheme joiner (U+034F) and the
 * Hangul fillers (U+115F, U+3164, U+FFA0). NFKC_Casefold drops them (UAX #44 §5.7.4), as `fold` does.
 */
const DRAWN_AS_NOTHING = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * A name as a reader tells names apart: invisible characters dropped, NFKC (UAX #15: the full-width `ｗ` and `：` become
 * `w` and `:`, the Kelvin sign `K` becomes `K`), lower case, NFKC again (lower-casing can unfold a composition), trimmed.
 * Unicode's NFKC_Casefold with String.prototype.toLowerCase standing in for full case folding: over all of Unicode
 * the two differ in what they make of ß and ẞ (case folding: `ss`), and no reserved name holds `ss`.
 */
function fold(name: string): string {
  return name.replace(DRAWN_AS_NOTHING, '').normalize('NFKC').toLowerCase().normalize('NFKC').trim();
}

/**
 * Whether a name reads as a system actor once folded (`fold`: trimmed, any case, NFKC, invisible characters dropped):
 * it starts with one of SYSTEM_ACTOR_PREFIXES or is one of SYSTEM_ACTORS (`Webhook:Twilio`, ` unsubscribe-link `,
 * `webhook\u200b:twilio`, `ｗebhook：twilio`; not `webhooks-bot` nor `unsubscribe-link-admin`).
 */
export function isSystemActorName(name: string): boolean {
  const folded = fold(name);
  return (
    SYSTEM_ACTOR_PREFIXES.some((prefix) => folded.startsWith(prefix)) ||
    (SYSTEM_ACTORS as readonly string[]).includes(folded)
  );
}
