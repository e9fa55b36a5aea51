import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { waitFor } from "../harness.ts";
import { check } from "./checker.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { backlog, eventsConsumerOf, randomBetween, shortenAckWait, startLoad } from "./scenario-helpers.ts";
import { consumerServices, Stack } from "./stack.ts";
import { checkerConnection } from "./stream-reader.ts";

// A SIGKILLed consumer's unacked messages come back after the ack wait; 5 s instead of 30 s keeps the run short.
const ackWaitMs = 5_000;

describe("fault scenario 5: each consumer SIGKILLed at random points while it works (events of all five providers)", () => {
  it("counts every event exactly once after many kills", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({ providers: "mixed", serviceEnv: { "campaign-stats": { STATS_CONSUMER_ACK_WAIT_SECONDS: String(ackWaitMs / 1000) } } });
    const nats = await checkerConnection(stack.natsUrl);
    try {
      await shortenAckWait(nats, ackWaitMs);
      const load = startLoad(stack, pick(30, 1500), { ratePerSecond: pick(10, 40) });
      const kills: string[] = [];
      const rounds = pick(2, 20);
      for (let round = 0; round < rounds; round++) {
        for (const name of [...consumerServices].sort(() => Math.random() - 0.5)) {
          // Kill while it has work in hand (between some write and its ack), at a random moment.
          await waitFor(async () => ((await backlog(nats, eventsConsumerOf[name])) ?? 0) > 0, { timeoutMs: 5_000, what: `${name} to have work` }).catch(() => undefined);
          await sleep(randomBetween(0, 400));
          const instance = round % stack.instances;
          await stack.proc(name, instance).kill();
          kills.push(`${name}${stack.instances > 1 ? `#${instance}` : ""}@${load.ledger.requests}`);
          await stack.start(name, undefined, instance);
          await shortenAckWait(nats, ackWaitMs);
        }
      }
      await load.done;
      const verdict = await check(stack, load.ledger, { scenario: "05-consumers-sigkill" });
      console.log(`[faults] 05 kills (service@requests so far): ${kills.join(" ")}`);
      expect(kills.length).toBe(rounds * 3);
      expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
    } finally {
      await nats.nc.close();
    }
  });
});
