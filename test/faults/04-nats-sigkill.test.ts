import { describe, expect, it } from "vitest";
import { RESEND_EVENTS_STREAM } from "../../services/shared/nats.ts";
import { check } from "./checker.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { shortenAckWait, startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";
import { checkerConnection } from "./stream-reader.ts";

// fsync: nats-server runs with its default (no config file: `-js -sd <dir>`), which syncs JetStream files
// every 2 minutes (sync_interval) and writes every message to the file (the OS page cache) before it acks.
// A SIGKILL ends the process, not the kernel: the page cache survives and reaches the disk, so every
// acknowledged message survives. A power loss or kernel crash would need `jetstream { sync_interval: always }`
// for that promise (at a cost in publish latency); this scenario does not simulate a machine crash. On a
// cluster, an R3 stream also holds every acknowledged message on a majority of the nodes.

/** Requests in flight at once (the driver's default): at most these may meet a kill without an answer. */
const concurrency = 8;

describe("fault scenario 4: nats-server SIGKILLed under load and restarted (on a cluster: the stream leader's node)", () => {
  it("loses no event the gateway acknowledged", { timeout: scenarioTimeoutMs }, async () => {
    // Acks sent to a consumer leader that dies are lost: its messages come back after the ack wait (5 s here).
    const stack = await Stack.start({ serviceEnv: { "campaign-stats": { STATS_CONSUMER_ACK_WAIT_SECONDS: "5" } } });
    const nats = await checkerConnection(stack.natsUrl);
    try {
      await shortenAckWait(nats, 5_000);
      const load = startLoad(stack, pick(25, 1500), { ratePerSecond: pick(20, 60), deadlineMs: 180_000, concurrency });
      const kills = pick(2, 10);
      const killed: string[] = [];
      for (let k = 1; k <= kills; k++) {
        await load.reached(k / (kills + 1));
        const node = await stack.streamLeader(nats, RESEND_EVENTS_STREAM);
        killed.push(node.url);
        await node.kill();
        await node.restart();
      }
      await load.done;
      const verdict = await check(stack, load.ledger, { scenario: "04-nats-sigkill" });
      expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
      expect(verdict.acked).toBe(load.workload.events.length);
      if (stack.cluster) {
        // R3 streams: the two other nodes keep ingestion answering 200 through each kill; only the requests in
        // flight at the kill may get no 200 (the gateway retries a publish through the new leader's election).
        const refused = verdict.requests - Object.entries(verdict.answers).reduce((sum, [status, n]) => sum + (status.startsWith("2") ? n : 0), 0);
        console.log(`[faults] 04 killed the stream leader ${kills} times (${killed.join(", ")}): ${refused} of ${verdict.requests} requests without a 2xx`);
        expect(refused).toBeLessThanOrEqual(kills * concurrency);
      }
    } finally {
      await nats.nc.close();
    }
  });
});
