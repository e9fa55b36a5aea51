import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { signedHeaders } from "../../cli/sign.ts";
import { listDeadLetters } from "../../cli/dead-letters.ts";
import { repoRoot } from "../../tools/local-servers.ts";
import { waitFor } from "../harness.ts";
import { check } from "./checker.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";
import { checkerConnection, deadLetterCounts } from "./stream-reader.ts";

const run = promisify(execFile);
const cli = (env: Record<string, string>, ...args: string[]) =>
  run(process.execPath, [join(repoRoot, "cli", "ngsreach.ts"), ...args], { env: { ...process.env, ...env }, cwd: repoRoot });

describe("fault scenario 7: poison messages", () => {
  it("dead-letters undecodable and invalid messages and a buggy build's rejects, counts them, and replays them with the CLI after the fix", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({
      entries: { "delivery-status": join(repoRoot, "test", "faults", "broken-delivery-status.ts") },
      // Three attempts per click instead of ten keep the scenario short; the count is what the loop checks.
      serviceEnv: { "delivery-status": { FAULTS_BROKEN_MODE: "reject-clicks", CONSUMER_MAX_ATTEMPTS: "3" } },
    });
    const ws = stack.workspaceId;
    const nats = await checkerConnection(stack.natsUrl);
    try {
      // 1. An undecodable envelope, put straight into the stream (a producer bug): every consumer must dead-letter it.
      await nats.js.publish(`resend.events.${ws}.email.delivered`, new TextEncoder().encode("\u0000not a protobuf"));
      // 2. A verified event that fails validation (an email event without data.email_id): accepted by the gateway, stored.
      const invalid = JSON.stringify({ type: "email.delivered", created_at: new Date().toISOString(), data: { to: ["x@example.test"] } });
      const answer = await fetch(`${stack.url("webhook-gateway")}/webhooks/resend?workspaceId=${ws}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...signedHeaders(stack.secrets.get(ws)!, invalid) },
        body: invalid,
      });
      expect(answer.status).toBe(200);
      // 3. Realistic load; this build rejects every click.
      const load = startLoad(stack, pick(20, 500));
      await load.done;
      const clicks = load.workload.events.filter((event) => event.type === "email.clicked").length;
      const counted = await waitFor(
        async () => {
          const counts = await deadLetterCounts(nats);
          return (counts["delivery-status"] ?? 0) >= clicks + 2 && (counts["campaign-stats-events"] ?? 0) >= 1 && (counts["suppression-events"] ?? 0) >= 1 && counts;
        },
        { timeoutMs: 150_000, intervalMs: 500, what: "the dead letters" },
      );
      console.log(`[faults] 07 dead letters before the fix: ${JSON.stringify(counted)} (clicks in the load: ${clicks})`);
      expect(counted["delivery-status"]).toBe(clicks + 2);
      const listed = await cli({ NATS_URL: stack.natsUrl }, "dead-letters", "list", "--consumer", "delivery-status");
      expect(listed.stdout).toContain(`${clicks + 2} dead letter(s) of consumer delivery-status`);
      expect(listed.stdout).toContain("TypeError: bug: clicks rejected by this build (failed 3 of 3 attempts)");

      // The fix: the real build replaces the broken one; then the operator replays.
      for (const instance of stack.instancesOf("delivery-status")) await instance.stop();
      await stack.startAll("delivery-status", join(repoRoot, "services", "delivery-status", "main.ts"));
      // One by sequence number first (an operator checking the fix on one message), then all the rest.
      const [first] = await listDeadLetters(nats, "delivery-status");
      const one = await cli({ NATS_URL: stack.natsUrl }, "dead-letters", "replay", "--consumer", "delivery-status", "--seq", String(first!.seq));
      expect(one.stdout).toContain("replayed 1 dead letter(s)");
      const replay = await cli({ NATS_URL: stack.natsUrl }, "dead-letters", "replay", "--consumer", "delivery-status", "--all");
      // The first one, if it was an unfixable message, may be back already as a new dead letter: at least the rest.
      expect(Number(/replayed (\d+) dead letter/.exec(replay.stdout)?.[1])).toBeGreaterThanOrEqual(clicks + 1);

      const verdict = await check(stack, load.ledger, { scenario: "07-poison-and-replay" });
      expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
      // The two that no fix can help are dead-lettered again, once each; the clicks are gone from DEAD_LETTERS.
      const after = await waitFor(async () => {
        const letters = await listDeadLetters(nats, "delivery-status");
        return letters.length === 2 && letters;
      }, { timeoutMs: 90_000, what: "the unfixable ones to be dead-lettered again" });
      expect(after.map((letter) => letter.reason).join(" ")).not.toContain("clicks rejected");
    } finally {
      await nats.nc.close();
    }
  });
});
