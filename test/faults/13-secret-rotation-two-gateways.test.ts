import { describe, expect, it } from "vitest";
import { newWebhookSecret } from "../../cli/sign.ts";
import { check } from "./checker.ts";
import { pick, scenarioTimeoutMs } from "./params.ts";
import { startLoad } from "./scenario-helpers.ts";
import { Stack } from "./stack.ts";

describe("fault scenario 13 (cluster, two gateways): the signing secret rotated through one gateway while both take webhooks", () => {
  it("verifies the new secret on both at once and the old one until it expires, and loses nothing", { timeout: scenarioTimeoutMs }, async () => {
    const stack = await Stack.start({ cluster: true });
    const ws = stack.workspaceId;
    const oldSecret = stack.secrets.get(ws)!;
    // The driver signs every attempt with the workspace's secret of the moment and spreads them over both gateways.
    const load = startLoad(stack, pick(30, 1000), { ratePerSecond: pick(20, 40) });
    await load.reached(0.35);
    const newSecret = newWebhookSecret();
    await stack.settings(0).rotateWebhookSecret({ workspaceId: ws, newSecret, actor: "faults", note: "rotation under load" });
    stack.secrets.set(ws, newSecret); // the sender switched as soon as the rotation returned
    await load.reached(0.7);
    stack.secrets.set(ws, oldSecret); // a sender still on the old secret: it stays valid for its 24 h
    await load.done;
    const verdict = await check(stack, load.ledger, { scenario: "13-secret-rotation-two-gateways" });
    expect(verdict.answers["401"] ?? 0).toBe(0);
    expect(verdict).toMatchObject({ lost: 0, doubleApplied: 0, phantom: 0, mismatches: [] });
    expect(verdict.acked).toBe(load.workload.events.length);
  });
});
