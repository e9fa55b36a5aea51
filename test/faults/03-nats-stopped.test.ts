import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { check } from "./checker.ts";
import { outageMs, pick, scenarioTimeoutMs } from "./params.ts";
import { shortenAckWait, startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";
import { checkerConnection } from "./stream-reader.ts";

describe("fault scenario 3: NATS stopped under load (on a cluster: every node)", () => {
  it("answers 503 while NATS is down, recovers, and loses nothing", { timeout: scenarioTimeoutMs }, async () => {
    // The gateway holds a webhook while it retries its publish (WEBHOOK_PUBLISH_RETRY_MS, 10 s by default):
    // shorter here than the outage, so requests meet a NATS that stays down. Acks in flight when NATS stops are
    // lost: their messages come back after the ack wait, 5 s here.
    const stack = await Stack.start({
      serviceEnv: { "webhook-gateway": { WEBHOOK_PUBLISH_RETRY_MS: "500" }, "campaign-stats": { STATS_CONSUMER_ACK_WAIT_SECONDS: "5" } },
    });
    const nats = await checkerConnection(stack.natsUrl);
    await shortenAckWait(nats, 5_000);
    await nats.nc.close();
    const load = startLoad(stack, pick(25, 1500), { ratePerSecond: pick(25, 60), deadlineMs: outageMs + 120_000 });
    await load.reached(0.3);
    await stack.nats.stop();
    await sleep(outageMs); // the outage's length is the scenario's parameter
    await stack.nats.restart();
    await stack.cluster?.waitReady(60_000); // every node back, one JetStream meta leader again
    await load.done;
    const verdict = await check(stack, load.ledger, { scenario: "03-nats-stopped" });
    expect(verdict.answers["503"] ?? 0).toBeGreaterThan(0);
    expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
    expect(verdict.acked).toBe(load.workload.events.length);
  });
});
