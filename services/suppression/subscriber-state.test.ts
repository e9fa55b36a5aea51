import { describe, expect, it } from "vitest";
import { defaultSoftBouncePolicy as policy } from "./soft-bounce-policy.ts";
import { addManually, applyEvent, removeManually, statusOf, type AddressEvent, type SubscriberState } from "./subscriber-state.ts";
import { day, delivered, epoch, fresh, hard, run, soft, unsubscribed } from "../../test/support/suppression-events.ts";

const stored = (outcome: { state: SubscriberState }, from: SubscriberState) => ({ ...outcome.state, version: from.version + 1 });
const streak = [soft("b1", 1), soft("b2", 2), soft("b3", 4)];

describe("a subscriber address", () => {
  it("is bounced by a hard bounce, once, whatever the redelivery", () => {
    const { state, transitions } = run([hard("s1", 1), hard("s1", 1), hard("s1", 1)]);
    expect(state.suppression).toMatchObject({ reason: "bounced", source: "event", svixId: "s1", detail: "General", campaignId: "c1" });
    expect(transitions).toHaveLength(1);
    expect(state.subscriberId).toBe("sub_1");
  });

  it("is complained by a complaint and suppressed_by_resend by email.suppressed", () => {
    const origin = { svixId: "s1", atMs: epoch, emailId: "e", campaignId: "", subscriberId: "" };
    expect(run([{ kind: "complaint", ...origin }]).state.suppression?.reason).toBe("complained");
    const resend = run([{ kind: "resend_suppressed", detail: "OnAccountSuppressionList", ...origin }]).state.suppression;
    expect(resend).toMatchObject({ reason: "suppressed_by_resend", source: "resend", detail: "OnAccountSuppressionList" });
  });

  it("is unsubscribed by email.unsubscribed, once, and never lifted by a delivery dated before or after it", () => {
    for (const order of [[unsubscribed("u1", 2), unsubscribed("u1", 2), delivered("d0", 1), delivered("d3", 3)], [delivered("d0", 1), delivered("d3", 3), unsubscribed("u1", 2)]]) {
      const { state, transitions } = run(order);
      expect(state.suppression).toMatchObject({ reason: "unsubscribed", source: "event", svixId: "u1", emailId: "e_u1", detail: "" });
      expect(transitions.map((t) => t.kind)).toEqual(["suppressed"]);
    }
    // Lifting a policy suppression under it leaves the unsubscribe.
    const { state, transitions } = run([...streak, unsubscribed("u1", 5), delivered("d1", 3)]);
    expect(state.suppression).toMatchObject({ reason: "unsubscribed", svixId: "u1" });
    expect(transitions.map((t) => t.kind)).toEqual(["suppressed"]);
  });

  it("keeps the earliest-dated suppression, announced once, in either arrival order", () => {
    const complaint: AddressEvent = { kind: "complaint", svixId: "s2", atMs: epoch + 2 * day, emailId: "e2", campaignId: "", subscriberId: "" };
    for (const order of [[hard("s1", 1), complaint], [complaint, hard("s1", 1)]]) {
      const { state, transitions } = run(order);
      expect(state.suppression).toMatchObject({ reason: "bounced", svixId: "s1" });
      expect(transitions).toHaveLength(1);
    }
  });

  it("is not suppressed by soft bounces until the policy says so, then by the policy", () => {
    const two = run([soft("s1", 1), soft("s2", 2), soft("s2", 2)]);
    expect(two.state.suppression).toBeNull();
    const three = run([soft("s3", 3)], two.state);
    expect(three.state.suppression).toMatchObject({ reason: "soft_bounce_policy", source: "policy", svixId: "s3", detail: "MailboxFull" });
  });

  it("never counts message-level soft bounces, and does not keep them", () => {
    const { state } = run(["a", "b", "c", "d"].map((id, i) => soft(id, i + 1, "MessageTooLarge")));
    expect(state.suppression).toBeNull();
    expect(state.facts.softBounces).toEqual([]);
  });

  it("lifts a policy suppression when a delivery dated between the bounces arrives after them, announcing it once", () => {
    const suppressed = run(streak);
    expect(suppressed.state.suppression).toMatchObject({ reason: "soft_bounce_policy", svixId: "b3" });
    const late = delivered("d1", 3);
    const lifted = applyEvent(suppressed.state, late, policy, 99);
    expect(lifted.transition).toMatchObject({ kind: "unsuppressed", actor: "policy", removed: { svixId: "b3" }, atMs: 99 });
    expect(lifted.transition?.kind === "unsuppressed" && lifted.transition.note).toMatch(/delivery/);
    expect(lifted.state.suppression).toBeNull();
    expect(lifted.state.history.map((entry) => [entry.kind, entry.source, entry.svixId])).toEqual([
      ["suppressed", "policy", "b3"],
      ["unsuppressed", "policy", "d1"],
    ]);
    const again = applyEvent(stored(lifted, suppressed.state), late, policy, 100);
    expect(again.changed).toBe(false);
    // The streak after the delivery still counts: its third bounce suppresses again.
    const later = run([soft("b4", 5), soft("b5", 6)], stored(lifted, suppressed.state));
    expect(later.state.suppression?.svixId).toBe("b5");
    expect(later.transitions.map((t) => t.kind)).toEqual(["suppressed"]);
  });

  it("never lifts a hard bounce for a delivery, in any order", () => {
    for (const order of [[delivered("d0", 0.5), hard("h1", 1), delivered("d2", 2)], [hard("h1", 1), delivered("d0", 0.5), delivered("d2", 2)]]) {
      const { state, transitions } = run(order);
      expect(state.suppression).toMatchObject({ reason: "bounced", svixId: "h1" });
      expect(transitions.map((t) => t.kind)).toEqual(["suppressed"]);
    }
  });

  it("stays suppressed by a later hard bounce or an operator when the policy suppression under it is lifted", () => {
    const policyFirst = run([...streak, hard("h1", 5), delivered("d1", 3)]);
    expect(policyFirst.state.suppression).toMatchObject({ reason: "bounced", svixId: "h1" });
    expect(policyFirst.transitions.map((t) => t.kind)).toEqual(["suppressed"]);

    const suppressed = run(streak).state;
    const added = addManually(suppressed, { reason: "manual", subscriberId: "", actor: "ann", note: "asked", atMs: epoch + 10 * day }, policy);
    expect(added.transition).toBeUndefined();
    expect(added.state.suppression?.svixId).toBe("b3");
    const { state, transitions } = run([delivered("d1", 3)], stored(added, suppressed));
    expect(state.suppression).toMatchObject({ reason: "manual", source: "manual", actor: "ann" });
    expect(transitions).toEqual([]);
  });

  it("after a manual removal ignores everything dated before it, restarts the streak, and suppresses on later events", () => {
    const suppressed = run(streak).state;
    const removed = removeManually(suppressed, { actor: "ops", note: "fixed", atMs: epoch + 10 * day }, policy);
    expect(removed.transition).toMatchObject({ kind: "unsuppressed", actor: "ops", note: "fixed", removed: { reason: "soft_bounce_policy" } });
    const after = stored(removed, suppressed);
    // Replays, and never-seen events dated before the removal: nothing.
    for (const old of [soft("b3", 4), soft("b0", 0.5), hard("h0", 9), delivered("d0", 3)]) {
      expect(applyEvent(after, old, policy, 1).changed, old.svixId).toBe(false);
    }
    const two = run([soft("b4", 11), soft("b5", 12)], after);
    expect(two.state.suppression).toBeNull();
    const three = run([soft("b6", 13)], two.state);
    expect(three.state.suppression?.svixId).toBe("b6");
    expect(three.state.history.map((h) => h.kind)).toEqual(["suppressed", "unsuppressed", "suppressed"]);
  });

  it("is suppressed manually once and audited with actor and note", () => {
    const added = addManually(fresh(), { reason: "manual", subscriberId: "sub_9", actor: "ann", note: "asked", atMs: 5 });
    expect(added.transition?.kind).toBe("suppressed");
    expect(added.state.history[0]).toMatchObject({ kind: "suppressed", source: "manual", actor: "ann", note: "asked" });
    expect(addManually(added.state, { reason: "manual", subscriberId: "", actor: "x", note: "y", atMs: 6 }).changed).toBe(false);
    expect(removeManually(fresh(), { actor: "x", note: "y", atMs: 1 }).changed).toBe(false);
  });

  it("derives status from reason", () => {
    expect([undefined, "bounced", "soft_bounce_policy", "complained", "manual", "suppressed_by_resend", "unsubscribed"].map((r) => statusOf(r as never))).toEqual([
      "active",
      "bounced",
      "bounced",
      "complained",
      "suppressed",
      "suppressed",
      "suppressed",
    ]);
  });
});
