/**
 * The soft-bounce policy (DESIGN.md "Hard vs soft bounce"): `limit` counted
 * soft bounces of one address within `windowMs` suppress it; a delivery resets
 * the streak of the soft bounces before it. Evaluated in event time, because
 * Resend does not deliver events in order: a delivery that happened after a
 * soft bounce breaks the streak even when it arrives first.
 */

export interface SoftBouncePolicy {
  /** Counted soft bounces that suppress (default 3). */
  readonly limit: number;
  /** Window the streak must fit in (default 30 days). */
  readonly windowMs: number;
  /** Whether a delivery resets the streak (default true). */
  readonly resetOnDelivery: boolean;
}

export const defaultSoftBouncePolicy: SoftBouncePolicy = Object.freeze({
  limit: 3,
  windowMs: 30 * 86_400_000,
  resetOnDelivery: true,
});

/** A soft bounce as the policy sees it. */
export interface CountedBounce {
  readonly atMs: number;
  readonly svixId: string;
}

/** What the policy knows of an address. */
export interface StreakInput {
  /** Soft bounces that count (message-level subtypes already left out). */
  readonly bounces: readonly CountedBounce[];
  /** Event times of deliveries to the address. */
  readonly deliveries: readonly number[];
  /** Bounces at or before this time never count (a manual removal resets the streak). */
  readonly floorMs: number;
}

/** Start (exclusive) of the streak that a bounce at `atMs` belongs to. */
function streakStart(atMs: number, input: StreakInput, policy: SoftBouncePolicy): number {
  let start = Math.max(atMs - policy.windowMs, input.floorMs);
  if (policy.resetOnDelivery) {
    for (const delivered of input.deliveries) if (delivered < atMs && delivered > start) start = delivered;
  }
  return start;
}

const countIn = (bounces: readonly CountedBounce[], startExclusive: number, endInclusive: number) =>
  bounces.filter((bounce) => bounce.atMs > startExclusive && bounce.atMs <= endInclusive).length;

/**
 * The earliest bounce (in event time) that completes a streak of `limit`, or
 * undefined when no streak reaches it. That bounce is the suppression's cause.
 */
export function streakCompletedBy(input: StreakInput, policy: SoftBouncePolicy): CountedBounce | undefined {
  const sorted = [...input.bounces].sort((a, b) => a.atMs - b.atMs || a.svixId.localeCompare(b.svixId));
  return sorted.find((bounce) => countIn(sorted, streakStart(bounce.atMs, input, policy), bounce.atMs) >= policy.limit);
}

/** Soft bounces in the streak still open at `nowMs` (for display: GetSubscriber's soft_bounce_count). */
export function currentStreak(input: StreakInput, policy: SoftBouncePolicy, nowMs: number): CountedBounce[] {
  const start = streakStart(nowMs, input, policy);
  return input.bounces.filter((bounce) => bounce.atMs > start).sort((a, b) => a.atMs - b.atMs);
}
