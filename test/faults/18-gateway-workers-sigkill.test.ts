import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { waitFor } from "../harness.ts";
import { check } from "./checker.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";

/** The live child processes of `pid` (a gateway primary's workers), from /proc. */
function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(" ").filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("fault scenario 18: a gateway of two worker processes (GATEWAY_PROCESSES=2) loses a worker, then its primary, mid-load", () => {
  it("replaces the worker, takes its workers down with the primary, and the sender's retries land exactly once", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({ providers: "mixed", serviceEnv: { "webhook-gateway": { GATEWAY_PROCESSES: "2" } } });
    const load = startLoad(stack, pick(25, 1000), { ratePerSecond: pick(30, 60) });

    await load.reached(1 / 3);
    const primary = stack.proc("webhook-gateway").child.pid!;
    const workers = await waitFor(() => (childPids(primary).length === 2 ? childPids(primary) : undefined), { what: "the gateway's two workers" });
    process.kill(workers[0]!, "SIGKILL");
    // The primary starts another in its place; the other worker serves meanwhile.
    await waitFor(() => childPids(primary).length === 2 && !childPids(primary).includes(workers[0]!), { what: "a worker started in the killed one's place" });

    await load.reached(2 / 3);
    const before = childPids(primary);
    await stack.proc("webhook-gateway").kill();
    // A worker whose primary died exits at once (node:cluster), so nothing is left serving the old port half-alive.
    await waitFor(() => before.every((pid) => !alive(pid)), { timeoutMs: 10_000, what: "the dead primary's workers to exit" });
    await stack.start("webhook-gateway");

    await load.done;
    const verdict = await check(stack, load.ledger, { scenario: "18-gateway-workers-sigkill" });
    expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
    expect(verdict.acked).toBe(load.workload.events.length);
    expect(verdict.ok).toBe(true);
  });
});
