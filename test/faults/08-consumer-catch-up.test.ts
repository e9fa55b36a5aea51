import { describe, expect, it } from "vitest";
import { waitFor } from "../harness.ts";
import { check, report } from "./checker.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { backlog, eventsConsumerOf, startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";
import { checkerConnection } from "./stream-reader.ts";

describe("fault scenario 8: a consumer (every instance of it) stopped while load arrives, then restarted", () => {
  it("catches up with everything it missed; the drain rate is reported", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start();
    const nats = await checkerConnection(stack.natsUrl);
    try {
      for (const instance of stack.instancesOf("delivery-status")) await instance.stop();
      // Long form: 10 minutes of load at 25 deliveries/s; short form: a few hundred events as fast as they go.
      const load = startLoad(stack, pick(30, 3500), { ratePerSecond: pick(undefined, 25) });
      await load.done;
      const missed = (await backlog(nats, eventsConsumerOf["delivery-status"]))!;
      expect(missed).toBe(load.workload.events.length); // duplicates inside the window were stored once
      const restarted = Date.now();
      await stack.startAll("delivery-status");
      const healthy = Date.now();
      await waitFor(async () => (await backlog(nats, eventsConsumerOf["delivery-status"])) === 0, {
        timeoutMs: pick(150_000, 1_800_000),
        intervalMs: 200,
        what: "delivery-status to drain its backlog",
      });
      const drainMs = Date.now() - restarted;
      const rate = Math.round((missed / drainMs) * 1000 * 10) / 10;
      const rateAfterHealthy = Math.round((missed / (Date.now() - healthy)) * 1000 * 10) / 10;
      const verdict = await check(stack, load.ledger, { scenario: "08-consumer-catch-up" });
      report(verdict, { backlog: missed, drainMs, drainRatePerSecond: rate, drainRateAfterHealthyPerSecond: rateAfterHealthy }, false);
      console.log(
        `[faults] 08 delivery-status drained ${missed} messages in ${drainMs} ms after the restart began: ${rate} messages/s (${rateAfterHealthy}/s from /healthz OK)`,
      );
      expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
    } finally {
      await nats.nc.close();
    }
  });
});
