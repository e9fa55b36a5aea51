import { describe, expect, it } from "vitest";
import { check } from "./checker.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";

describe("fault scenario 1: the gateway is SIGKILLed mid-load (webhooks of all five providers)", () => {
  it("gives requests in flight no 2xx, and the sender's retries land exactly once", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({ providers: "mixed" });
    const kills = pick(2, 10);
    const load = startLoad(stack, pick(25, 1000), { ratePerSecond: pick(30, 60) });
    for (let k = 1; k <= kills; k++) {
      await load.reached(k / (kills + 1));
      await stack.proc("webhook-gateway").kill();
      await stack.start("webhook-gateway");
    }
    await load.done;
    const verdict = await check(stack, load.ledger, { scenario: "01-gateway-sigkill" });
    // With one gateway the kills did hit requests; with two, webhooks go on through the other (those in flight at
    // the kill may be few or none at this rate).
    if (stack.instances === 1) expect(verdict.answers["no-answer"] ?? 0).toBeGreaterThan(0);
    expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
    expect(verdict.acked).toBe(load.workload.events.length);
    expect(verdict.ok).toBe(true);
  });
});
