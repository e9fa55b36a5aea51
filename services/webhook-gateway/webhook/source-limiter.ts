/**
 * Which source addresses keep failing verification for a workspace, so the
 * gateway can answer them 429 and spend nothing more on them (no second read
 * of the workspace's keys, which a failed signature otherwise may trigger).
 *
 * It only ever acts on a request that has already failed verification: a
 * request that verifies is accepted whatever its source, and clears that
 * source's record. So Svix's sending addresses (shared by every Resend
 * customer) or a proxy in front of the gateway can never lose good traffic
 * to it; behind a proxy every client shares one address, and the worst case
 * is a 429 instead of a 401 for requests that would have failed anyway.
 *
 * Per (workspace, source), a leaky bucket: each failure adds one, the level
 * drains at `leakPerSecond`; from `burst` on, the pair is limited until it
 * drains below again (the level is capped at twice the burst, so a source
 * recovers at most burst/leak seconds after it stops failing). A source is an
 * IPv4 address or an IPv6 /64 (one IPv6 client holds a whole /64, so one
 * address each would be no limit). At most `maxEntries` pairs are kept, the
 * least recently failing dropped first.
 */

export interface SourceLimiterOptions {
  burst: number;
  leakPerSecond: number;
  maxEntries: number;
  now?: () => number;
}

interface Bucket {
  level: number;
  at: number;
}

export class SourceLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly options: SourceLimiterOptions;
  private readonly now: () => number;

  constructor(options: SourceLimiterOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Pairs with recent failures (bounded by maxEntries). */
  get size(): number {
    return this.buckets.size;
  }

  /** True when the source is limited for this workspace now (records nothing). */
  isLimited(workspaceId: string, address: string | undefined): boolean {
    if (this.buckets.size === 0) return false;
    const bucket = this.buckets.get(pairKey(workspaceId, address));
    return bucket !== undefined && this.drained(bucket, this.now()) >= this.options.burst;
  }

  /** Records a failed verification; true when the source is limited for the workspace from now on. */
  fail(workspaceId: string, address: string | undefined): boolean {
    const key = pairKey(workspaceId, address);
    const now = this.now();
    const bucket = this.buckets.get(key);
    const level = Math.min((bucket ? this.drained(bucket, now) : 0) + 1, 2 * this.options.burst);
    // Re-inserted so the Map's order is least recently failing first.
    if (bucket) this.buckets.delete(key);
    else if (this.buckets.size >= this.options.maxEntries) this.buckets.delete(this.buckets.keys().next().value!);
    this.buckets.set(key, { level, at: now });
    return level >= this.options.burst;
  }

  /** A request from the source verified: forget its failures for the workspace. */
  succeed(workspaceId: string, address: string | undefined): void {
    if (this.buckets.size > 0) this.buckets.delete(pairKey(workspaceId, address));
  }

  private drained(bucket: Bucket, now: number): number {
    return Math.max(0, bucket.level - ((now - bucket.at) / 1000) * this.options.leakPerSecond);
  }
}

const pairKey = (workspaceId: string, address: string | undefined) => `${workspaceId} ${sourceOf(address)}`;

/** An IPv4 address as is (also when mapped into IPv6), an IPv6 address as its /64 prefix. */
export function sourceOf(address: string | undefined): string {
  if (!address) return "unknown";
  const bare = address.split("%", 1)[0]!.toLowerCase(); // no zone id
  if (!bare.includes(":")) return bare;
  if (bare.startsWith("::ffff:") && bare.includes(".")) return bare.slice(7);
  const [head = "", tail] = bare.split("::", 2);
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill("0"), ...tailGroups];
  return `${groups.slice(0, 4).map((group) => (parseInt(group, 16) || 0).toString(16)).join(":")}::/64`;
}
