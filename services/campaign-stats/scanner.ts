/**
 * Link-scanner rule. Mail security gateways (Barracuda, Mimecast, Proofpoint,
 * Microsoft Defender "Safe Links", ...) open every link of an incoming email
 * to check it, which Resend reports as clicks. A click is a scanner click when
 *
 * 1. its user agent matches a known scanner or generic automation pattern
 *    (see `scannerUserAgentPatterns`), or
 * 2. it happened less than `windowMs` (default 10 s) after the send's first
 *    delivery — or before it: humans do not click that fast.
 *
 * Rule 2 depends on the delivery time, which may arrive after the click
 * (events are unordered), so it is evaluated from the send's stored state each
 * time the send's contribution is computed, never frozen at arrival. Scanner
 * clicks stay included in clicks and unique clicks (proto: informational
 * subset) and are also counted in `scanner_clicks`.
 */

/** Default scanner window after delivery. */
export const defaultScannerWindowMs = 10_000;

/** Case-insensitive user-agent fragments of link scanners and automation. */
export const scannerUserAgentPatterns: readonly RegExp[] = [
  /barracuda/i,
  /mimecast/i,
  /proofpoint/i,
  /safe ?links/i,
  /microsoft (defender|office|atp)/i,
  /\bms-office\b|msoffice/i,
  /symantec|messagelabs|broadcom/i,
  /trend ?micro/i,
  /fortinet|fortiguard|fortimail/i,
  /sophos/i,
  /cisco|ironport/i,
  /forcepoint|websense/i,
  /zscaler/i,
  /\bbot\b|bot\/|crawler|spider|scanner|preview/i,
  /python-requests|python-urllib|curl\/|wget\/|go-http-client|java\/|okhttp|libwww|headlesschrome|phantomjs/i,
];

/** True when the user agent belongs to a known scanner; an empty user agent is not enough on its own. */
export function isScannerUserAgent(userAgent: string): boolean {
  return userAgent !== "" && scannerUserAgentPatterns.some((pattern) => pattern.test(userAgent));
}

/** Rule 2: a click before `deliveredAt + windowMs` (delivery known) is a scanner click. */
export function isScannerClick(click: { t: number; uaScanner: boolean }, deliveredAt: number | null, windowMs: number): boolean {
  if (click.uaScanner) return true;
  return deliveredAt !== null && click.t < deliveredAt + windowMs;
}
