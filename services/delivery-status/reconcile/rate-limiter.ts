/**
 * Requests per second per API key, shared by every caller in this process that uses the key (Resend
 * limits per team, by default 2 requests/s: resend.com/docs/api-reference/rate-limit). Each request
 * takes the next free slot, 1/rate seconds after the previous one; a 429 pushes the key's next slot
 * past its `retry-after`, so concurrent callers back off together instead of each finding out alone.
 * Keys are held by fingerprint, never by value. In-process only: several instances reconciling one
 * workspace at once is prevented elsewhere (one run per workspace), not here.
 */
export class KeyRateLimiter {
  private readonly intervalMs: number;
  private readonly nextSlotAt = new Map<string, number>();

  constructor(requestsPerSecond: number) {
    if (!(requestsPerSecond > 0)) throw new RangeError("requestsPerSecond must be positive");
    this.intervalMs = 1000 / requestsPerSecond;
  }

  /** Resolves when the key may send its next request. */
  async take(keyFingerprint: string): Promise<void> {
    const now = Date.now();
    const slot = Math.max(now, this.nextSlotAt.get(keyFingerprint) ?? 0);
    this.nextSlotAt.set(keyFingerprint, slot + this.intervalMs);
    this.prune(now);
    if (slot > now) await new Promise((resolve) => setTimeout(resolve, slot - now));
  }

  /** No request of the key before `untilMs` (the provider said so with a 429). */
  pause(keyFingerprint: string, untilMs: number): void {
    this.nextSlotAt.set(keyFingerprint, Math.max(untilMs, this.nextSlotAt.get(keyFingerprint) ?? 0));
  }

  /** Keys idle for a while are forgotten, so the map stays as small as the set of keys in use. */
  private prune(now: number): void {
    if (this.nextSlotAt.size < 1000) return;
    for (const [key, at] of this.nextSlotAt) if (at < now - 60_000) this.nextSlotAt.delete(key);
  }
}
