import { describe, expect, it } from "vitest";
import { SourceLimiter, sourceOf } from "./source-limiter.ts";

function limiter(clock: { now: number }, maxEntries = 100) {
  return new SourceLimiter({ burst: 5, leakPerSecond: 1, maxEntries, now: () => clock.now });
}

describe("the per-source limiter of failed webhooks", () => {
  it("limits a source once its failures for a workspace reach the burst, and lets it recover as they drain", () => {
    const clock = { now: 0 };
    const limits = limiter(clock);
    const answers = Array.from({ length: 6 }, () => limits.fail("ws", "203.0.113.7"));
    expect(answers).toEqual([false, false, false, false, true, true]);
    expect(limits.isLimited("ws", "203.0.113.7")).toBe(true);
    clock.now += 1_000; // 6 - 1 drained = 5: still at the burst
    expect(limits.isLimited("ws", "203.0.113.7")).toBe(true);
    clock.now += 1_500;
    expect(limits.isLimited("ws", "203.0.113.7")).toBe(false);
  });

  it("keeps workspaces and sources apart, and forgets a source's failures once one of its requests verifies", () => {
    const clock = { now: 0 };
    const limits = limiter(clock);
    for (let i = 0; i < 5; i++) limits.fail("ws", "203.0.113.7");
    expect(limits.isLimited("ws", "203.0.113.7")).toBe(true);
    expect(limits.isLimited("other", "203.0.113.7")).toBe(false);
    expect(limits.isLimited("ws", "203.0.113.8")).toBe(false);
    limits.succeed("ws", "203.0.113.7");
    expect(limits.isLimited("ws", "203.0.113.7")).toBe(false);
  });

  it("recovers within twice the burst of seconds however long a source kept failing", () => {
    const clock = { now: 0 };
    const limits = limiter(clock);
    for (let i = 0; i < 10_000; i++) limits.fail("ws", "203.0.113.7");
    clock.now += 10_001;
    expect(limits.isLimited("ws", "203.0.113.7")).toBe(false);
  });

  it("holds at most maxEntries pairs, dropping the least recently failing first", () => {
    const clock = { now: 0 };
    const limits = limiter(clock, 3);
    for (let i = 0; i < 5; i++) limits.fail("ws", "198.51.100.1");
    for (const n of [2, 3]) limits.fail("ws", `198.51.100.${n}`);
    limits.fail("ws", "198.51.100.1"); // most recent again
    limits.fail("ws", "198.51.100.4"); // evicts .2, not .1
    expect(limits.size).toBe(3);
    expect(limits.isLimited("ws", "198.51.100.1")).toBe(true);
    for (let n = 5; n < 1000; n++) limits.fail("ws", `198.51.100.${n % 250}-${n}`);
    expect(limits.size).toBe(3);
  });

  it("treats an IPv6 /64 as one source, and an IPv4 address mapped into IPv6 as that IPv4 address", () => {
    expect(sourceOf("2001:db8:1:2:aaaa::1")).toBe(sourceOf("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    expect(sourceOf("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64");
    expect(sourceOf("2001:db8:1:3::1")).not.toBe(sourceOf("2001:db8:1:2::1"));
    expect(sourceOf("2001:0DB8:0001:0002:0:0:0:1%eth0")).toBe("2001:db8:1:2::/64");
    expect(sourceOf("::1")).toBe("0:0:0:0::/64");
    expect(sourceOf("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(sourceOf(undefined)).toBe("unknown");
  });
});
