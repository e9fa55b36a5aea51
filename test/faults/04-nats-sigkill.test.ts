import { describe, expect, it } from "vitest";
import { check } from "./checker.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";

// fsync: nats-server runs with its default (no config file: `-js -sd <dir>`), which syncs JetStream files
// every 2 minutes (sync_interval) and writes every message to the file (the OS page cache) before it acks.
// A SIGKILL ends the process, not the kernel: the page cache survives and reaches the disk, so every
// acknowledged message survives. A power loss or kernel crash would need `jetstream { sync_interval: always }`
// for that promise (at a cost in publish latency); this scenario does not simulate a machine crash.

describe("fault scenario 4: nats-server SIGKILLed under load and restarted", () => {
  it("loses no event the gateway acknowledged", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start();
    const load = startLoad(stack, pick(25, 1500), { ratePerSecond: pick(20, 60), deadlineMs: 180_000 });
    const kills = pick(2, 10);
    for (let k = 1; k <= kills; k++) {
      await load.reached(k / (kills + 1));
      await stack.nats.kill();
      await stack.nats.restart();
    }
    await load.done;
    const verdict = await check(stack, load.ledger, { scenario: "04-nats-sigkill" });
    expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
    expect(verdict.acked).toBe(load.workload.events.length);
  });
});
