import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { check } from "./checker.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { startLoad } from "./scenario-helpers.ts";
import { RESEND_EVENTS_STREAM } from "../../services/shared/nats.ts";
import { Stack } from "./stack.ts";
import { checkerConnection } from "./stream-reader.ts";

const pauseMs = pick(2_000, 20_000);

describe("fault scenario 10: NATS (on a cluster: the stream leader's node), the database and a consumer frozen with SIGSTOP, then SIGCONT", () => {
  it("loses nothing and applies nothing twice", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start();
    const nats = await checkerConnection(stack.natsUrl);
    const load = startLoad(stack, pick(30, 1500), { ratePerSecond: pick(15, 40), deadlineMs: 3 * pauseMs + 120_000 });
    // A frozen node holds its sockets and answers nothing: its clients and its peers must notice by themselves.
    const natsTarget = stack.cluster ? await stack.streamLeader(nats, RESEND_EVENTS_STREAM) : stack.nats;
    await nats.nc.close();
    const freezes: [string, { pause(): Promise<void>; resume(): void }][] = [
      ["nats-server", natsTarget],
      ["ferretdb", stack.ferret],
      ["delivery-status", stack.proc("delivery-status")],
    ];
    for (const [index, [, target]] of freezes.entries()) {
      await load.reached((index + 1) / (freezes.length + 1));
      await target.pause();
      await sleep(pauseMs); // the freeze's length is the scenario's parameter
      target.resume();
    }
    await load.done;
    const verdict = await check(stack, load.ledger, { scenario: "10-sigstop-sigcont" });
    expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
    expect(verdict.acked).toBe(load.workload.events.length);
  });
});
