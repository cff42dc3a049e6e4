/**
 * Characters a name people read may not hold, and how one is named in an error. Pure: no I/O.
 *
 * Refused: controls (\p{Cc}: newline, tab, DEL, C1), format characters (\p{Cf}: zero-width space/joiner, soft hyphen,
 * BOM, the bidirectional overrides and isolates U+202A–202E, U+2066–2069) and the line and paragraph separators
 * (\p{Zl} U+2028, \p{Zp} U+2029, which break a line as a newline does). Names are read by people in lists and audit
 * rows; invisible and direction-changing characters make two names look alike or one read backwards (Unicode TR #36
 * "Unicode Security Considerations" §2, and CVE-2021-42574 "Trojan Source" for the bidi controls). Categories: Unicode
 * General_Category (UAX #44), as the `u` flag's \p{…} reads them.
 */
const HIDDEN_CHARACTER = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * The first hidden character of `text` (HIDDEN_CHARACTER) as `U+XXXX` (at least four hex digits, upper case), or
 * undefined when it has none: `firstHiddenCharacter("a\u200bb")` → `"U+200B"`.
 */
export function firstHiddenCharacter(text: string): string | undefined {
  const found = HIDDEN_CHARACTER.exec(text);
  return found ? `U+${found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` : undefined;
}
