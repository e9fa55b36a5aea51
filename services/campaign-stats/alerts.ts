/**
 * Campaign health alerts (DESIGN.md "Campaign alerts"), pure: given a
 * campaign's counts and its stored alert state, decide whether a rate crossed
 * its threshold (fire once, disarm) or fell below 80 % of it (re-arm).
 */
import type { Counts } from "./counts.ts";

export type AlertKind = "hardBounceRate" | "complaintRate";
export const alertKinds: readonly AlertKind[] = ["hardBounceRate", "complaintRate"];

/** Thresholds as fractions (0.04 = 4 %). */
export interface AlertSettings {
  readonly hardBounceRate: number;
  readonly complaintRate: number;
  /** No alert fires before the campaign has this many delivered sends. */
  readonly minDelivered: number;
}

export const defaultAlertSettings: AlertSettings = Object.freeze({ hardBounceRate: 0.04, complaintRate: 0.0008, minDelivered: 100 });

/** Re-arming needs the rate below this fraction of the threshold (hysteresis). */
export const rearmFraction = 0.8;

/** Per kind: armed (may fire) and how many times it fired (the crossing number). */
export type AlertState = Record<AlertKind, { armed: boolean; crossings: number }>;

export function initialAlertState(): AlertState {
  return { hardBounceRate: { armed: true, crossings: 0 }, complaintRate: { armed: true, crossings: 0 } };
}

/** An alert to publish, kept in the campaign's outbox until published. */
export interface PendingAlert {
  kind: AlertKind;
  crossing: number;
  rate: number;
  threshold: number;
  delivered: number;
  count: number;
  sent: number;
  at: number;
}

/** hard-bounced / sent and complained / delivered, with their numerators. */
export function alertRate(kind: AlertKind, counts: Counts): { rate: number; count: number } {
  if (kind === "hardBounceRate") return { rate: counts.sent > 0 ? counts.hardBounced / counts.sent : 0, count: counts.hardBounced };
  return { rate: counts.delivered > 0 ? counts.complained / counts.delivered : 0, count: counts.complained };
}

/** The alert state after the counts changed, and the alerts that fire now. */
export function evaluateAlerts(
  state: AlertState,
  counts: Counts,
  settings: AlertSettings,
  now: number,
): { state: AlertState; fired: PendingAlert[] } {
  const next: AlertState = { hardBounceRate: { ...state.hardBounceRate }, complaintRate: { ...state.complaintRate } };
  const fired: PendingAlert[] = [];
  for (const kind of alertKinds) {
    const threshold = settings[kind];
    const { rate, count } = alertRate(kind, counts);
    if (stepThreshold(next[kind], rate, threshold, counts.delivered >= settings.minDelivered)) {
      fired.push({ kind, crossing: next[kind].crossings, rate, threshold, delivered: counts.delivered, count, sent: counts.sent, at: now });
    }
  }
  return { state: next, fired };
}

/**
 * One threshold's hysteresis, shared by campaign alerts and the bulk-sender limits
 * (deliverability/bulk-sender-limits.ts): when armed and `eligible`, a rate at or above the threshold
 * fires (disarms, counts a crossing; returns true); when disarmed, a rate below `rearmFraction` of it
 * re-arms. Changes `current` in place.
 */
export function stepThreshold(current: { armed: boolean; crossings: number }, rate: number, threshold: number, eligible: boolean): boolean {
  if (current.armed && eligible && rate >= threshold) {
    current.armed = false;
    current.crossings += 1;
    return true;
  }
  if (!current.armed && rate < threshold * rearmFraction) current.armed = true;
  return false;
}
