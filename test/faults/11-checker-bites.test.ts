import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../tools/local-servers.ts";
import { check } from "./checker.ts";
import { scenarioTimeoutMs } from "./params.ts";
import { randomBetween, startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";

describe("the checker bites", () => {
  it("fails a deliberately broken build that acks before its database write and is SIGKILLed", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({
      services: ["webhook-gateway", "delivery-status"],
      entries: { "delivery-status": join(repoRoot, "test", "faults", "broken-delivery-status.ts") },
      serviceEnv: { "delivery-status": { FAULTS_BROKEN_MODE: "ack-before-write" } },
    });
    const load = startLoad(stack, 40);
    await load.done;
    // The broken build has acked far ahead of its writes: a kill now loses what it acked but had not written.
    await sleep(randomBetween(0, 200));
    for (const instance of stack.instancesOf("delivery-status")) await instance.kill();
    await stack.startAll("delivery-status", join(repoRoot, "services", "delivery-status", "main.ts")); // even the correct build cannot bring them back
    const verdict = await check(stack, load.ledger, { scenario: "11-checker-bites", timeoutMs: 10_000, stallMs: 10_000, drainedStallMs: 5_000, stats: false, suppression: false });
    expect(verdict.ok).toBe(false);
    expect(verdict.lost).toBeGreaterThan(0);
  });
});
