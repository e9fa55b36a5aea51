import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../tools/local-servers.ts";
import { check } from "./checker.ts";
import { scenarioTimeoutMs } from "./params.ts";
import { startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";

// The same two-instance run the cluster scenarios pass, on builds without what makes it exact: it must fail.
// One NATS server is enough here: the defects are in the write paths, not in the messaging.
const sends = 60;
/** Once every consumer has acked all it was given, a difference that stays this long is the build's, not a lag. */
const drainedStallMs = 5_000;

describe("the checker bites on two instances", () => {
  it("fails the run when the local FerretDB's per-document locks are off", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({ cluster: false, instances: 2, documentLocks: false });
    const load = startLoad(stack, sends);
    await load.done;
    const verdict = await check(stack, load.ledger, { scenario: "16-bites-without-document-locks", stallMs: 15_000, drainedStallMs });
    expect(verdict.ok).toBe(false);
  });

  it("fails the run when campaign-stats writes without its version guard", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({
      cluster: false,
      instances: 2,
      entries: { "campaign-stats": join(repoRoot, "test", "faults", "unguarded-campaign-stats.ts") },
    });
    const load = startLoad(stack, sends);
    await load.done;
    const verdict = await check(stack, load.ledger, { scenario: "16-bites-without-version-guard", stallMs: 15_000, drainedStallMs, suppression: false });
    expect(verdict.ok).toBe(false);
    expect(verdict.mismatches.some((line) => line.startsWith("campaign "))).toBe(true);
  });
});
