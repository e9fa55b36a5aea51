import { describe, expect, it } from "vitest";
import { check } from "./checker.ts";
import { hostileRequests, slowLoris } from "./hostile.ts";
import { providerForgeries } from "./provider-forgeries.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";

describe("fault scenario 9: replays, tampering, forged provider webhooks, oversized and malformed bodies, slow clients", () => {
  it("rejects every hostile request with no effect while good traffic of every provider flows, and the gateway stays up", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({
      providers: "mixed",
      extraWorkspaces: 1,
      // Every refusal is checked for its reason: the source limiter would answer 429 once this one source has
      // failed 20 times (abuse.test.ts covers it), so its burst is raised here.
      serviceEnv: { "webhook-gateway": { HTTP_REQUEST_TIMEOUT_MS: "2000", WEBHOOK_SOURCE_FAILURE_BURST: "100000" } },
    });
    const gateway = stack.proc("webhook-gateway");
    const [otherWorkspace] = [...stack.secrets.keys()].filter((id) => id !== stack.workspaceId);
    const load = startLoad(stack, pick(20, 500), { ratePerSecond: pick(30, 60) });
    const rounds = pick(3, 30);
    const answers: { kind: string; expected: number | string; got: unknown }[] = [];
    const lorises: Promise<number>[] = [];
    for (let round = 0; round < rounds; round++) {
      lorises.push(slowLoris(gateway.child.pid ? Number(new URL(gateway.baseUrl).port) : 0, stack.workspaceId));
      const requests = hostileRequests(load.ledger, {
        workspaceId: stack.workspaceId,
        secret: stack.secrets.get(stack.workspaceId)!,
        otherSecret: stack.secrets.get(otherWorkspace!)!,
      });
      for (const request of requests) answers.push({ kind: request.kind, expected: request.expected, got: await request.send(gateway.baseUrl) });
      const forgeries = providerForgeries({
        ledger: load.ledger,
        workspaceId: stack.workspaceId,
        keys: stack.providerKeys.get(stack.workspaceId)!,
        otherKeys: stack.providerKeys.get(otherWorkspace!)!,
      });
      for (const forgery of forgeries) answers.push({ kind: forgery.kind, expected: forgery.expected, got: await forgery.send(gateway.baseUrl) });
    }
    await load.done;
    const held = await Promise.all(lorises);
    const verdict = await check(stack, load.ledger, { scenario: "09-hostile-requests" });

    expect(answers.filter((a) => a.got !== a.expected)).toEqual([]);
    expect(Math.max(...held)).toBeLessThan(10_000); // slow clients are cut off
    expect(gateway.child.exitCode).toBeNull(); // the same process, still up
    expect((await fetch(`${gateway.baseUrl}/healthz`)).ok).toBe(true);
    expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, inDoubt: 0, unplanned: 0, mismatches: [] });
    expect(verdict.acked).toBe(load.workload.events.length);
  });
});
