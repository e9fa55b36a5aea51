/**
 * Machine-open rule (issue 18), a heuristic beside the raw counts. Privacy proxies (Apple Mail Privacy
 * Protection) and security gateways fetch a message's images when it arrives, which providers report as
 * opens. An open is a machine open when it comes less than `windowMs` (default 5 s,
 * STATS_MACHINE_OPEN_WINDOW_SECONDS) after the send's first delivery — or before it: nobody reads a message
 * that has not arrived. Opens stay in `opens` and `unique_opens` as reported; `machine_opens` counts the
 * ones this rule flags. (The other sign — every image of a message fetched at once — needs the image of
 * each open, which no provider's open event carries.)
 *
 * Like the scanner rule, it depends on the delivery time, which may arrive after the open, so it is judged
 * from the send's stored state each time its contribution is computed: an open waits, one by one, until
 * its verdict is final (at or after delivery + window: human for good), at most `undecidedOpenCap` per send.
 */

/** Default machine-open window after delivery. */
export const defaultMachineOpenWindowMs = 5_000;

/**
 * A send's first 100 opens the rule has not judged for good are kept one by one; later ones count as
 * human (a send opened that often before its delivery event arrived is not a prefetch).
 */
export const undecidedOpenCap = 100;

/** The rule: an open before `deliveredAt + windowMs` (delivery known) is a machine open. */
export function isMachineOpen(t: number, deliveredAt: number | null, windowMs: number): boolean {
  return deliveredAt !== null && t < deliveredAt + windowMs;
}

/** Whether an open's verdict can no longer change: past the cap, or at/after the real delivery + window. */
export function isOpenFinal(t: number, rank: number, deliveredAt: number | null, windowMs: number): boolean {
  return rank >= undecidedOpenCap || (deliveredAt !== null && t >= deliveredAt + windowMs);
}
