import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { waitFor } from "../harness.ts";
import { check } from "./checker.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { backlog, eventsConsumerOf, randomBetween, shortenAckWait, startLoad } from "./scenario-helpers.ts";
import { consumerServices, Stack } from "./stack.ts";
import { checkerConnection } from "./stream-reader.ts";

// What the dead instance held comes back to the other one after the ack wait: 5 s instead of 30 s.
const ackWaitMs = 5_000;

describe("fault scenario 12 (cluster, two instances): one instance of each consumer SIGKILLed for good", () => {
  it("lets the other instance finish all the work, exactly once", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({ cluster: true, serviceEnv: { "campaign-stats": { STATS_CONSUMER_ACK_WAIT_SECONDS: String(ackWaitMs / 1000) } } });
    const nats = await checkerConnection(stack.natsUrl);
    try {
      await shortenAckWait(nats, ackWaitMs);
      const load = startLoad(stack, pick(30, 1500), { ratePerSecond: pick(15, 40) });
      await load.reached(0.3);
      for (const name of consumerServices) {
        await waitFor(async () => ((await backlog(nats, eventsConsumerOf[name])) ?? 0) > 0, { timeoutMs: 5_000, what: `${name} to have work` }).catch(() => undefined);
        await sleep(randomBetween(0, 300));
        await stack.proc(name, 0).kill();
      }
      await load.done;
      const verdict = await check(stack, load.ledger, { scenario: "12-one-instance-sigkill" });
      for (const name of consumerServices) expect(stack.instancesOf(name).filter((proc) => proc.child.exitCode === null && proc.child.signalCode === null)).toHaveLength(1);
      expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
      expect(verdict.acked).toBe(load.workload.events.length);
    } finally {
      await nats.nc.close();
    }
  });
});
