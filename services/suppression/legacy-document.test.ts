import { describe, expect, it } from "vitest";
import { upgradeState, type StoredState } from "./legacy-document.ts";
import { defaultSoftBouncePolicy as policy } from "./soft-bounce-policy.ts";
import { applyEvent } from "./subscriber-state.ts";
import { day, delivered, epoch, run, soft } from "../../test/support/suppression-events.ts";

const at = (days: number) => epoch + days * day;
const oldBounce = (svixId: string, days: number, counts = true) => ({ svixId, atMs: at(days), subType: "General", emailId: `e_${svixId}`, campaignId: "c1", counts });
const policyRecord = { reason: "soft_bounce_policy" as const, source: "policy" as const, atMs: at(4), svixId: "b3", emailId: "e_b3", campaignId: "c1", actor: "", note: "", detail: "General" };

/** A document as the code before the fold wrote it. */
const oldDocument = (fields: Partial<StoredState>): StoredState => ({
  workspaceId: "ws",
  email: "a@x.com",
  subscriberId: "sub_1",
  suppression: null,
  softBounces: [],
  deliveries: [],
  streakFloorMs: 0,
  removedAtMs: 0,
  applied: [],
  history: [],
  version: 7,
  updatedAtMs: 1,
  ...fields,
});

describe("a subscriber document of the old shape", () => {
  it("keeps its suppression, even a policy one a late delivery would lift under the new rule", () => {
    const state = upgradeState(
      oldDocument({ suppression: policyRecord, softBounces: [oldBounce("b1", 1), oldBounce("b2", 2), oldBounce("b3", 4)], applied: ["b1", "b2", "b3"] }),
    );
    expect(state.suppression).toEqual(policyRecord);
    expect(state.version).toBe(7);
    const { state: after, transitions } = run([delivered("d1", 3)], state);
    expect(after.suppression).toEqual(policyRecord);
    expect(transitions).toEqual([]);
    expect(after).not.toHaveProperty("applied");
  });

  it("keeps its manual removal: bounces dated before it never count again", () => {
    const state = upgradeState(oldDocument({ softBounces: [oldBounce("b1", 1), oldBounce("b2", 2)], streakFloorMs: at(3), removedAtMs: at(3) }));
    expect(state.facts.removedAtMs).toBe(at(3));
    expect(state.facts.softBounces).toEqual([]);
    expect(run([soft("b0", 2.5), soft("b4", 4), soft("b5", 5)], state).state.suppression).toBeNull();
  });

  it("does not count again a soft bounce it had applied but no longer listed", () => {
    // The old code kept 50 bounces and 200 svix ids: "b0" fell out of the list, not out of `applied`.
    const state = upgradeState(oldDocument({ softBounces: [oldBounce("b1", 1), oldBounce("b2", 2)], applied: ["b0", "b1", "b2"] }));
    const replay = applyEvent(state, soft("b0", 0.5), policy, 1);
    expect(replay.changed).toBe(false);
    expect(applyEvent(state, soft("b9", 3), policy, 1).state.suppression?.svixId).toBe("b9");
  });

  it("is read as it is when it already has facts", () => {
    const current = run([soft("b1", 1)]).state;
    expect(upgradeState(current)).toEqual(current);
  });
});
