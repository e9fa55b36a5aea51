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
  /**
   * How much older than an address's newest event a soft bounce or delivery may be and still count
   * (default 39 days: Svix retries for ~28 h, RESEND_EVENTS keeps a message 7 days, DEAD_LETTERS 30
   * days for a replay after a fix). Older ones are ignored, which is what bounds the memory per address.
   */
  readonly replayHorizonMs: number;
}

export const defaultSoftBouncePolicy: SoftBouncePolicy = Object.freeze({
  limit: 3,
  windowMs: 30 * 86_400_000,
  resetOnDelivery: true,
  replayHorizonMs: 39 * 86_400_000,
});

/** A soft bounce as the policy sees it. */
export interface CountedBounce {
  readonly atMs: number;
  readonly svixId: string;
}

/** What the policy knows of an address. */
export interface StreakInput<B extends CountedBounce = CountedBounce> {
  /** Soft bounces that count (message-level subtypes already left out). */
  readonly bounces: readonly B[];
  /** Event times of deliveries to the address. */
  readonly deliveries: readonly number[];
  /** Bounces at or before this time never count (a manual removal resets the streak). */
  readonly floorMs: number;
  /** Only a bounce at or after this time may complete a streak (earlier ones are settled; address-facts.ts). */
  readonly fromMs?: number;
}

/** How many leading elements of an ascending list satisfy `before` (binary search). */
function prefixLength<T>(values: readonly T[], before: (value: T) => boolean): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (before(values[middle]!)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Start (exclusive) of the streak that a bounce at `atMs` belongs to; `deliveries` ascending. */
function streakStart(atMs: number, deliveries: readonly number[], floorMs: number, policy: SoftBouncePolicy): number {
  const start = Math.max(atMs - policy.windowMs, floorMs);
  if (!policy.resetOnDelivery) return start;
  const lastBefore = deliveries[prefixLength(deliveries, (delivered) => delivered < atMs) - 1];
  return lastBefore === undefined ? start : Math.max(start, lastBefore);
}

/**
 * The earliest bounce (in event time) that completes a streak of `limit`, or
 * undefined when no streak reaches it. That bounce is the suppression's cause.
 * O(n log n): it runs on every write of an address with up to the capped lists.
 */
export function streakCompletedBy<B extends CountedBounce>(input: StreakInput<B>, policy: SoftBouncePolicy): B | undefined {
  const sorted = [...input.bounces].sort(compareBounces);
  const deliveries = [...input.deliveries].sort((a, b) => a - b);
  const fromMs = input.fromMs ?? -Infinity;
  return sorted.find((bounce) => {
    if (bounce.atMs < fromMs) return false;
    const start = streakStart(bounce.atMs, deliveries, input.floorMs, policy);
    // Bounces in (start, bounce.atMs]: those up to the last one sharing this bounce's time, minus those at or before start.
    const through = prefixLength(sorted, (other) => other.atMs <= bounce.atMs);
    const before = prefixLength(sorted, (other) => other.atMs <= start);
    return through - before >= policy.limit;
  });
}

/** Code-unit order of strings: the same on every runtime and locale (unlike localeCompare). */
export const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Event time, then svix id. */
export function compareBounces(a: CountedBounce, b: CountedBounce): number {
  return a.atMs - b.atMs || compareText(a.svixId, b.svixId);
}

/** Soft bounces in the streak still open at `nowMs` (for display: GetSubscriber's soft_bounce_count). */
export function currentStreak(input: StreakInput, policy: SoftBouncePolicy, nowMs: number): CountedBounce[] {
  const start = streakStart(nowMs, [...input.deliveries].sort((a, b) => a - b), input.floorMs, policy);
  return input.bounces.filter((bounce) => bounce.atMs > start).sort(compareBounces);
}
