import { describe, expect, it } from "vitest";
import { defaultSoftBouncePolicy as policy } from "./soft-bounce-policy.ts";
import {
  addManually,
  applyEvent,
  newSubscriber,
  removeManually,
  statusOf,
  type AddressEvent,
  type SubscriberState,
} from "./subscriber-state.ts";

const day = 86_400_000;
const origin = (svixId: string, atDay: number) => ({ svixId, atMs: atDay * day, emailId: `e_${svixId}`, campaignId: "c1", subscriberId: "sub_1" });
const fresh = () => newSubscriber("ws", "a@x.com", 0);

function run(events: AddressEvent[], start: SubscriberState = fresh()) {
  let state = start;
  const transitions = [];
  for (const event of events) {
    const outcome = applyEvent(state, event, policy, 1);
    if (outcome.changed) state = { ...outcome.state, version: state.version + 1 };
    if (outcome.transition) transitions.push(outcome.transition);
  }
  return { state, transitions };
}

describe("a subscriber address", () => {
  it("is bounced by a hard bounce, once, whatever the redelivery", () => {
    const bounce: AddressEvent = { kind: "hard_bounce", subType: "NoEmail", ...origin("s1", 1) };
    const { state, transitions } = run([bounce, bounce, bounce]);
    expect(state.suppression).toMatchObject({ reason: "bounced", source: "event", svixId: "s1", detail: "NoEmail", campaignId: "c1" });
    expect(transitions).toHaveLength(1);
    expect(state.subscriberId).toBe("sub_1");
  });

  it("is complained by a complaint and suppressed_by_resend by email.suppressed", () => {
    expect(run([{ kind: "complaint", ...origin("s1", 1) }]).state.suppression?.reason).toBe("complained");
    const resend = run([{ kind: "resend_suppressed", detail: "OnAccountSuppressionList", ...origin("s1", 1) }]).state.suppression;
    expect(resend).toMatchObject({ reason: "suppressed_by_resend", source: "resend", detail: "OnAccountSuppressionList" });
  });

  it("keeps its first suppression when a later complaint arrives", () => {
    const { state, transitions } = run([
      { kind: "hard_bounce", subType: "General", ...origin("s1", 1) },
      { kind: "complaint", ...origin("s2", 2) },
    ]);
    expect(state.suppression?.reason).toBe("bounced");
    expect(transitions).toHaveLength(1);
  });

  it("is not suppressed by soft bounces until the policy says so, then by the policy", () => {
    const soft = (id: string, d: number): AddressEvent => ({ kind: "soft_bounce", subType: "MailboxFull", counts: true, ...origin(id, d) });
    const two = run([soft("s1", 1), soft("s2", 2), soft("s2", 2)]);
    expect(two.state.suppression).toBeNull();
    const three = run([soft("s3", 3)], two.state);
    expect(three.state.suppression).toMatchObject({ reason: "soft_bounce_policy", source: "policy", svixId: "s3", detail: "MailboxFull" });
  });

  it("never counts message-level soft bounces", () => {
    const events: AddressEvent[] = ["a", "b", "c", "d"].map((id, i) => ({
      kind: "soft_bounce",
      subType: "MessageTooLarge",
      counts: false,
      ...origin(id, i + 1),
    }));
    const { state } = run(events);
    expect(state.suppression).toBeNull();
    expect(state.softBounces).toHaveLength(4);
  });

  it("reaches the same state whatever the order of a delivery and soft bounces", () => {
    const events: AddressEvent[] = [
      { kind: "soft_bounce", subType: "General", counts: true, ...origin("s1", 1) },
      { kind: "delivered", ...origin("d1", 2) },
      { kind: "soft_bounce", subType: "General", counts: true, ...origin("s2", 3) },
      { kind: "soft_bounce", subType: "General", counts: true, ...origin("s3", 4) },
    ];
    expect(run(events).state.suppression).toBeNull();
    expect(run([...events].reverse()).state.suppression).toBeNull();
  });

  it("after a manual removal ignores the old bounce but suppresses on a later one", () => {
    const bounce: AddressEvent = { kind: "hard_bounce", subType: "General", ...origin("s1", 1) };
    const suppressed = run([bounce]).state;
    const removed = removeManually(suppressed, { actor: "ops", note: "fixed", atMs: 2 * day });
    expect(removed.transition).toMatchObject({ kind: "unsuppressed", actor: "ops", removed: { reason: "bounced" } });
    const again = run([bounce], { ...removed.state, version: 2 });
    expect(again.state.suppression).toBeNull();
    const later = run([{ kind: "hard_bounce", subType: "General", ...origin("s9", 3) }], again.state);
    expect(later.state.suppression?.svixId).toBe("s9");
    expect(later.state.history.map((h) => h.kind)).toEqual(["suppressed", "unsuppressed", "suppressed"]);
  });

  it("is suppressed manually once and audited with actor and note", () => {
    const added = addManually(fresh(), { reason: "manual", subscriberId: "sub_9", actor: "ann", note: "asked", atMs: 5 });
    expect(added.transition?.kind).toBe("suppressed");
    expect(added.state.history[0]).toMatchObject({ kind: "suppressed", source: "manual", actor: "ann", note: "asked" });
    expect(addManually(added.state, { reason: "manual", subscriberId: "", actor: "x", note: "y", atMs: 6 }).changed).toBe(false);
    expect(removeManually(fresh(), { actor: "x", note: "y", atMs: 1 }).changed).toBe(false);
  });

  it("derives status from reason", () => {
    expect([undefined, "bounced", "soft_bounce_policy", "complained", "manual", "suppressed_by_resend"].map((r) => statusOf(r as never))).toEqual([
      "active",
      "bounced",
      "bounced",
      "complained",
      "suppressed",
      "suppressed",
    ]);
  });
});
