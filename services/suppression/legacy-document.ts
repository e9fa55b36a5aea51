/**
 * Subscriber documents written before the fold (address-facts.ts): a
 * first-wins `suppression`, the last 50 soft bounces (with `counts`) and
 * delivery times, the last 200 applied svix ids, `streakFloorMs` and
 * `removedAtMs`. They are read as facts, so nothing they hold is lost, and the
 * next save writes the new shape. Their suppression, whatever its reason,
 * becomes lasting: it was announced, and the streak behind a policy one may
 * have been cut by the old 50-entry limit, so it cannot be re-derived.
 */
import type { AddressFacts, SoftBounceFact } from "./address-facts.ts";
import { compareBounces } from "./soft-bounce-policy.ts";
import type { SubscriberState } from "./subscriber-state.ts";

interface LegacyFields {
  softBounces?: (SoftBounceFact & { counts?: boolean })[];
  deliveries?: number[];
  applied?: string[];
  streakFloorMs?: number;
  removedAtMs?: number;
}

/** A state as stored: the current shape, or the old one without `facts`. */
export type StoredState = Omit<SubscriberState, "facts"> & { facts?: AddressFacts } & LegacyFields;

/** The current shape of a stored state (old documents converted). */
export function upgradeState(stored: StoredState): SubscriberState {
  const { facts, softBounces = [], deliveries = [], applied = [], streakFloorMs = 0, removedAtMs = 0, ...state } = stored;
  if (facts) return { ...state, facts };
  const removed = Math.max(removedAtMs, streakFloorMs);
  const bounces = softBounces
    .filter((bounce) => bounce.counts && bounce.atMs > removed)
    .map(({ svixId, atMs, subType, emailId, campaignId }) => ({ svixId, atMs, subType, emailId, campaignId }))
    .sort(compareBounces);
  const suppression = state.suppression ?? null;
  const eventTimes = [...softBounces.map((bounce) => bounce.atMs), ...deliveries];
  if (suppression && suppression.source !== "manual") eventTimes.push(suppression.atMs);
  const newestMs = eventTimes.reduce((newest, atMs) => Math.max(newest, atMs), 0);
  const upgraded: AddressFacts = {
    lasting: suppression,
    removedAtMs: removed,
    softBounces: bounces,
    deliveries: [...new Set(deliveries.filter((atMs) => atMs > removed))].sort((a, b) => a - b),
    newestMs,
    settledMs: 0,
    // Every soft bounce among them is dated at or before newestMs: once settled past it, the horizon ignores them anyway.
    ...(applied.length > 0 ? { legacyApplied: { svixIds: applied, untilMs: newestMs } } : {}),
  };
  return { ...state, suppression, facts: upgraded };
}
