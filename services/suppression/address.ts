/**
 * Addresses as suppression keys. DESIGN.md: "normalised address (trimmed,
 * domain lower-cased)". The local part keeps its case on purpose: RFC 5321
 * lets a mailbox be case-sensitive, and the proto documents the same rule, so
 * "Ann@Example.COM" and "Ann@example.com" are one key but "ann@example.com"
 * is another.
 */

/** Longest address accepted (RFC 5321 path limit is 256; 320 is the common practical cap). */
const maxAddressLength = 320;

/** Returns the normalised address, or undefined when the input is not address-like. */
export function normaliseAddress(raw: string): string | undefined {
  const trimmed = raw.trim();
  if (trimmed.length === 0 || trimmed.length > maxAddressLength) return undefined;
  // Whitespace, control characters and angle brackets mean a display name or garbage, not an address.
  if (/[\s\u0000-\u001f\u007f<>]/.test(trimmed)) return undefined;
  // Exactly one "@": quoted local parts holding "@" are legal but never seen from a signup form.
  const at = trimmed.indexOf("@");
  if (at <= 0 || at === trimmed.length - 1 || trimmed.indexOf("@", at + 1) !== -1) return undefined;
  const domain = trimmed.slice(at + 1);
  return `${trimmed.slice(0, at)}@${domain.toLowerCase()}`;
}

/** The document key of an address in a workspace: `<workspaceId>:<normalised address>`. */
export function subscriberKey(workspaceId: string, normalisedAddress: string): string {
  return `${workspaceId}:${normalisedAddress}`;
}
