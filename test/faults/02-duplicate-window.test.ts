import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { check } from "./checker.ts";
import { drive } from "./driver.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";

// The stream's duplicate window is shortened to 1 s (EVENTS_DUPLICATE_WINDOW_SECONDS) so that "after the
// window" — Svix's 5 min, 30 min, 2 h... retries — happens within the test.
const windowSeconds = 1;

describe("fault scenario 2: the same events retried after the JetStream duplicate window", () => {
  it("stores the late retries as second copies and still applies every event once", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({ env: { EVENTS_DUPLICATE_WINDOW_SECONDS: String(windowSeconds) } });
    const load = startLoad(stack, pick(20, 500), { duplicateRate: 0 });
    await load.done;
    // Waiting out the window is the point of the scenario (a time, not an effect to poll for).
    await sleep(windowSeconds * 1000 + 500);
    await drive(load.ledger, load.workload.requests, {
      target: () => stack.url("webhook-gateway"),
      secret: (workspaceId) => stack.secrets.get(workspaceId)!,
    });
    const verdict = await check(stack, load.ledger, { scenario: "02-duplicate-window" });
    // Every late retry got past JetStream's dedupe (a second stored copy), so only the consumers' idempotency held.
    expect(verdict.storedCopies).toBe(2 * load.workload.events.length);
    expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
    expect(verdict.ok).toBe(true);
  });
});
