import { describe, expect, it } from "vitest";
import { check } from "./checker.ts";
import { outageMs, pick, scenarioTimeoutMs } from "./params.ts";
import { backlog, eventsConsumerOf, startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";
import { checkerConnection, deadLetterCounts } from "./stream-reader.ts";

describe("fault scenario 6: the database stopped under load", () => {
  it("builds a backlog in JetStream while it is down and drains it after, losing nothing", { timeout: scenarioTimeoutMs }, async () => {
    // The consumers log at warn here, so the run reports how often a database client had to be restarted because
    // its server monitor wedged (services/shared/mongo-watchdog.ts); campaign-stats' log is printed on failure.
    const warn = { LOG_LEVEL: "warn" };
    const consumers = ["delivery-status", "campaign-stats", "suppression"] as const;
    const stack = await Stack.start({ serviceEnv: Object.fromEntries(consumers.map((name) => [name, warn])) });
    const nats = await checkerConnection(stack.natsUrl);
    try {
      // Load that outlasts the outage: FerretDB's graceful stop can take seconds on a busy machine, and a load that
      // ended before the database went down left no backlog to see (a CI failure of the short form, 25 sends).
      const load = startLoad(stack, pick(40, 1500), { ratePerSecond: pick(20, 50), deadlineMs: outageMs + 120_000 });
      await load.reached(0.15);
      let maxBacklog = 0;
      let sampling = true;
      // Observing the backlog is what the outage is spent doing, from the moment the stop begins.
      const sampler = (async () => {
        while (sampling) {
          maxBacklog = Math.max(maxBacklog, (await backlog(nats, eventsConsumerOf["delivery-status"])) ?? 0);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })();
      await stack.ferret.stop();
      await new Promise((resolve) => setTimeout(resolve, outageMs));
      sampling = false;
      await sampler;
      await stack.ferret.restart();
      const restartedAt = Date.now();
      await load.done;
      const verdict = await check(stack, load.ledger, { scenario: "06-database-stopped" });
      console.log(`[faults] 06 backlog during the outage: up to ${maxBacklog} messages; settled ${Date.now() - restartedAt} ms after the database came back`);
      const restarts = consumers.map((name) => `${name} ${stack.instancesOf(name).reduce((sum, proc) => sum + proc.output().split("database monitor stuck").length - 1, 0)}`);
      console.log(`[faults] 06 database clients restarted by the watchdog: ${restarts.join(", ")}`);
      // A database call left unanswered as the database stopped: its handler is given up on and retried (consumer.ts).
      const givenUp = consumers.map((name) => `${name} ${stack.instancesOf(name).reduce((sum, proc) => sum + proc.output().split("handler did not finish").length - 1, 0)}`);
      console.log(`[faults] 06 handlers given up on and retried: ${givenUp.join(", ")}`);
      if (!verdict.ok) console.log(`[faults] 06 campaign-stats log tail:\n${stack.proc("campaign-stats").output().slice(-4000)}`);
      expect(maxBacklog).toBeGreaterThan(0);
      expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
      expect(verdict.acked).toBe(load.workload.events.length);
      expect(await deadLetterCounts(nats)).toEqual({}); // an outage is never taken for a bug
    } finally {
      await nats.nc.close();
    }
  });
});
