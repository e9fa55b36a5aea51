import { describe, expect, it } from "vitest";
import { check } from "./checker.ts";
import { hostileRequests, slowLoris } from "./hostile.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";

describe("fault scenario 9: replays, tampering, oversized and malformed bodies, slow clients", () => {
  it("rejects every hostile request with no effect while good traffic flows, and the gateway stays up", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({ extraWorkspaces: 1, serviceEnv: { "webhook-gateway": { HTTP_REQUEST_TIMEOUT_MS: "2000" } } });
    const gateway = stack.proc("webhook-gateway");
    const [otherWorkspace] = [...stack.secrets.keys()].filter((id) => id !== stack.workspaceId);
    const load = startLoad(stack, pick(20, 500), { ratePerSecond: pick(30, 60) });
    const rounds = pick(3, 30);
    const answers: { kind: string; expected: number; got: unknown }[] = [];
    const lorises: Promise<number>[] = [];
    for (let round = 0; round < rounds; round++) {
      lorises.push(slowLoris(gateway.child.pid ? Number(new URL(gateway.baseUrl).port) : 0, stack.workspaceId));
      const requests = hostileRequests(load.ledger, {
        workspaceId: stack.workspaceId,
        secret: stack.secrets.get(stack.workspaceId)!,
        otherSecret: stack.secrets.get(otherWorkspace!)!,
      });
      for (const request of requests) answers.push({ kind: request.kind, expected: request.expected, got: await request.send(gateway.baseUrl) });
    }
    await load.done;
    const held = await Promise.all(lorises);
    const verdict = await check(stack, load.ledger, { scenario: "09-hostile-requests" });

    expect(answers.filter((a) => a.got !== a.expected)).toEqual([]);
    expect(Math.max(...held)).toBeLessThan(10_000); // slow clients are cut off
    expect(gateway.child.exitCode).toBeNull(); // the same process, still up
    expect((await fetch(`${gateway.baseUrl}/healthz`)).ok).toBe(true);
    expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, inDoubt: 0, mismatches: [] });
    expect(verdict.acked).toBe(load.workload.events.length);
  });
});
