import { describe, expect, it } from "vitest";
import { waitFor } from "../harness.ts";
import { descendantPids, isAlive } from "../support/process-tree.ts";
import { check } from "./checker.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";

describe("fault scenario 18: a gateway of two worker processes (GATEWAY_PROCESSES=2) loses a worker, then its primary, mid-load", () => {
  it("replaces the worker, takes its workers down with the primary, and the sender's retries land exactly once", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({ providers: "mixed", serviceEnv: { "webhook-gateway": { GATEWAY_PROCESSES: "2" } } });
    const load = startLoad(stack, pick(25, 1000), { ratePerSecond: pick(30, 60) });

    await load.reached(1 / 3);
    const primary = stack.proc("webhook-gateway").child.pid!;
    const workers = await waitFor(() => {
      const pids = descendantPids(primary);
      return pids.length === 2 ? pids : undefined;
    }, { what: "the gateway's two workers" });
    process.kill(workers[0]!, "SIGKILL");
    // The primary starts another in its place; the other worker serves meanwhile.
    await waitFor(() => {
      const pids = descendantPids(primary);
      return pids.length === 2 && !pids.includes(workers[0]!);
    }, { what: "a worker started in the killed one's place" });

    await load.reached(2 / 3);
    const before = descendantPids(primary);
    await stack.proc("webhook-gateway").kill();
    // A worker whose primary died exits at once (node:cluster), so nothing is left serving the old port half-alive.
    await waitFor(() => before.every((pid) => !isAlive(pid)), { timeoutMs: 10_000, what: "the dead primary's workers to exit" });
    await stack.start("webhook-gateway");

    await load.done;
    const verdict = await check(stack, load.ledger, { scenario: "18-gateway-workers-sigkill" });
    expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
    expect(verdict.acked).toBe(load.workload.events.length);
    expect(verdict.ok).toBe(true);
  });
});
