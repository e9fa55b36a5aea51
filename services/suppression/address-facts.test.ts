import { describe, expect, it } from "vitest";
import { addFact, deliveryCap, deriveSuppression, emptyFacts, softBounceCap, type AddressFacts, type Fact } from "./address-facts.ts";
import { defaultSoftBouncePolicy as policy } from "./soft-bounce-policy.ts";
import { day, epoch } from "../../test/support/suppression-events.ts";

const at = (days: number) => epoch + days * day;
const bounce = (svixId: string, days: number): Fact => ({
  kind: "soft_bounce",
  bounce: { svixId, atMs: at(days), subType: "General", emailId: `e_${svixId}`, campaignId: "" },
});
const delivery = (svixId: string, days: number): Fact => ({ kind: "delivery", svixId, atMs: at(days) });
const fold = (facts: Fact[], start: AddressFacts = emptyFacts()) => facts.reduce((state, fact) => addFact(state, fact, policy), start);
const kept = (facts: AddressFacts) => [...facts.softBounces.map((b) => b.atMs), ...facts.deliveries];

describe("the facts of an address", () => {
  it("keep only what a streak can still count: the window plus the replay horizon behind the newest event", () => {
    // A bounce and a delivery every day for 400 days: never a streak, and never more than ~69 days kept.
    const facts = fold(Array.from({ length: 400 }, (_, i) => [bounce(`b${i}`, i), delivery(`d${i}`, i + 0.5)]).flat());
    expect(deriveSuppression(facts, policy)).toBeNull();
    const oldest = Math.min(...kept(facts));
    expect(facts.newestMs - oldest).toBeLessThanOrEqual(policy.replayHorizonMs + policy.windowMs);
    expect(facts.softBounces.length).toBeLessThanOrEqual(70);
    expect(facts.settledMs).toBe(facts.newestMs - policy.replayHorizonMs);
  });

  it("ignore a soft bounce or delivery older than the horizon, but never a hard bounce", () => {
    const facts = fold([bounce("b1", 1), delivery("d1", 100)]);
    expect(addFact(facts, bounce("b0", 50), policy)).toBe(facts);
    expect(addFact(facts, delivery("d0", 50), policy)).toBe(facts);
    const hard: Fact = {
      kind: "lasting",
      record: { reason: "bounced", source: "event", atMs: at(2), svixId: "h", emailId: "e", campaignId: "", actor: "", note: "", detail: "General" },
    };
    expect(deriveSuppression(addFact(facts, hard, policy), policy)).toMatchObject({ svixId: "h" });
  });

  it("settle a policy suppression once it is beyond the horizon: an older delivery can then no longer lift it", () => {
    const suppressed = fold([bounce("b1", 1), bounce("b2", 2), bounce("b3", 4)]);
    expect(deriveSuppression(suppressed, policy)).toMatchObject({ svixId: "b3" });
    // Within the horizon the delivery between the bounces lifts it...
    expect(deriveSuppression(addFact(suppressed, delivery("d1", 3), policy), policy)).toBeNull();
    // ...once an event 100 days later moved the horizon past it, the suppression is settled and its bounces dropped.
    const moved = addFact(suppressed, delivery("d9", 100), policy);
    expect(moved.lasting).toMatchObject({ reason: "soft_bounce_policy", svixId: "b3" });
    expect(moved.softBounces).toEqual([]);
    expect(addFact(moved, delivery("d1", 3), policy)).toBe(moved);
    expect(deriveSuppression(moved, policy)).toMatchObject({ svixId: "b3" });
  });

  it("stay under their caps without inventing a streak when a sender floods one address", () => {
    // Every counted bounce follows a delivery, a minute apart: nothing may suppress, however many.
    const minute = 1 / 1440;
    const flood: Fact[] = [];
    for (let i = 0; i < 1500; i++) flood.push(delivery(`d${i}`, i * 2 * minute), bounce(`b${i}`, (i * 2 + 1) * minute));
    for (let i = 0; i < 10_500; i++) flood.push(delivery(`x${i}`, 3 + i * minute));
    const facts = fold(flood);
    expect(facts.softBounces.length).toBeLessThanOrEqual(softBounceCap);
    expect(facts.deliveries.length).toBeLessThanOrEqual(deliveryCap);
    expect(deriveSuppression(facts, policy)).toBeNull();
    expect(facts.lasting).toBeNull();
  });
});
