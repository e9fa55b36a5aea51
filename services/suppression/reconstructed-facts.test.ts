/**
 * Reconstructed events (issue 16) in the fold of an address: a stand-in counts only while the real event
 * of its kind on the same email is unknown, and the result is the same for every arrival order.
 */
import { describe, expect, it } from "vitest";
import { reconstructedSvixId } from "../shared/reconstructed-events.ts";
import { addFact, deriveSuppression, emptyFacts, lastingKeyCap, type Fact } from "./address-facts.ts";
import { defaultSoftBouncePolicy as policy } from "./soft-bounce-policy.ts";
import { removeManually, type AddressEvent } from "./subscriber-state.ts";
import { announcedSuppressed, day, delivered, epoch, hard, permutations, run, seededRandom, shuffle, soft } from "../../test/support/suppression-events.ts";

const typeOf: Record<AddressEvent["kind"], string> = {
  hard_bounce: "email.bounced",
  soft_bounce: "email.bounced",
  complaint: "email.complained",
  resend_suppressed: "email.suppressed",
  delivered: "email.delivered",
  unsubscribed: "email.unsubscribed",
};
/** `event` about email `emailId`. */
const of = (emailId: string, event: AddressEvent): AddressEvent => ({ ...event, emailId });
/** What a reconciliation publishes for `event`'s email: its svix id, dated at the send (`sentDay`). */
const standIn = (event: AddressEvent, sentDay: number): AddressEvent => ({
  ...event,
  svixId: reconstructedSvixId(event.emailId, typeOf[event.kind]),
  atMs: epoch + sentDay * day,
  reconstructed: true,
});
const complaint = (svixId: string, atDay: number): AddressEvent => ({ ...hard(svixId, atDay), kind: "complaint" });
const label = (events: readonly AddressEvent[]) => events.map((event) => event.svixId).join(",");

/** Every ordering of `history` ends in the same facts and suppression, announced without repeats. */
function expectOrderIndependent(history: AddressEvent[]) {
  const reference = run(history).state;
  for (const order of permutations(history)) {
    const { state, transitions } = run(order);
    expect(state.facts, label(order)).toEqual(reference.facts);
    expect(state.suppression, label(order)).toEqual(reference.suppression);
    expect(announcedSuppressed(transitions), label(order)).toBe(reference.suppression !== null);
  }
  return reference;
}

describe("a reconstructed lasting suppression", () => {
  const reconstructedBounce = standIn(of("e1", hard("x", 0)), 1);
  const realBounce = of("e1", hard("real", 1.01));

  it("suppresses like the real hard bounce, announced once", () => {
    const { state, transitions } = run([reconstructedBounce]);
    expect(state.suppression).toMatchObject({ reason: "bounced", source: "event", svixId: reconstructedSvixId("e1", "email.bounced"), detail: "General" });
    expect(transitions.map((transition) => transition.kind)).toEqual(["suppressed"]);
  });

  it("gives way to the real bounce of its email, before or after it, without a second announcement", () => {
    for (const order of [[reconstructedBounce, realBounce], [realBounce, reconstructedBounce]]) {
      const { state, transitions } = run(order);
      // The real event decides the record (its time and svix id); the address stays suppressed throughout.
      expect(state.suppression, label(order)).toMatchObject({ reason: "bounced", svixId: "real", atMs: realBounce.atMs });
      expect(transitions, label(order)).toHaveLength(1);
      expect(state.history, label(order)).toHaveLength(1);
    }
    expectOrderIndependent([reconstructedBounce, realBounce, of("e1", delivered("d", 1.005))]);
  });

  it("still gives way when an earlier real suppression of another email is the record the real bounce lost to", () => {
    // Sent on day 1, complained about another email on day 2, really bounced on day 3: the complaint is first.
    const history = [reconstructedBounce, of("e2", complaint("c2", 2)), of("e1", hard("real", 3))];
    const reference = expectOrderIndependent(history);
    expect(reference.suppression).toMatchObject({ reason: "complained", svixId: "c2" });
  });

  it("keeps standing for other emails, and for its own until the real one comes", () => {
    const other = of("e2", complaint("c2", 2));
    expect(run([reconstructedBounce, other]).state.suppression).toMatchObject({ svixId: reconstructedBounce.svixId });
    expect(run([other, reconstructedBounce]).state.suppression).toMatchObject({ svixId: reconstructedBounce.svixId });
  });

  it("is forgotten with everything else by a manual removal, and its copy does not suppress again", () => {
    const suppressed = run([reconstructedBounce]).state;
    const removed = removeManually(suppressed, { actor: "ops", note: "fixed", atMs: epoch + 5 * day }).state;
    expect(removed.suppression).toBeNull();
    expect(removed.facts.standIns).toBeUndefined();
    expect(run([reconstructedBounce], removed).state.suppression).toBeNull();
  });
});

describe("a reconstructed soft bounce", () => {
  const reconstructed = standIn(of("e1", soft("x", 0)), 1);
  const real = of("e1", soft("real1", 1.01));
  const second = of("e2", soft("real2", 2));
  const third = of("e3", soft("real3", 3));

  it("counts for its email while the real soft bounce is unknown", () => {
    const { state } = run([reconstructed, second, third]);
    expect(state.suppression).toMatchObject({ reason: "soft_bounce_policy", svixId: "real3" });
  });

  it("and the real soft bounce of the same email count once, in every order: with one other bounce, no streak of three", () => {
    const reference = expectOrderIndependent([reconstructed, real, second]);
    expect(reference.suppression).toBeNull();
    expect(reference.facts.softBounces.map((bounce) => bounce.svixId)).toEqual(["real1", "real2"]);
  });

  it("with a third email's soft bounce suppress in every order, the cause the same", () => {
    const reference = expectOrderIndependent([reconstructed, real, second, third]);
    expect(reference.suppression).toMatchObject({ reason: "soft_bounce_policy", svixId: "real3" });
  });

  it("is the same whatever copies of each arrive in whatever order", () => {
    const history = [reconstructed, real, second, third];
    const reference = run(history).state;
    const random = seededRandom(16);
    for (let trial = 0; trial < 200; trial++) {
      const copies = history.flatMap((event) => Array.from({ length: 1 + Math.floor(random() * 3) }, (_, copy) => (copy > 0 && random() < 0.5 ? { ...event, campaignId: "" } : event)));
      const { state } = run(shuffle(copies, random));
      expect(state.facts, `trial ${trial}`).toEqual(reference.facts);
    }
  });
});

describe("a reconstructed delivery", () => {
  it("resets a streak like a real one, dated at the send", () => {
    const bounces = [soft("b1", 1), soft("b2", 2), soft("b3", 3)];
    const delivery = standIn(of("e_d", delivered("x", 0)), 2.5);
    expect(run(bounces).state.suppression).not.toBeNull();
    const reference = expectOrderIndependent([...bounces, delivery]);
    expect(reference.suppression).toBeNull();
    // The real delivery, later than the send, arriving too changes nothing.
    expect(run([...bounces, delivery, of("e_d", delivered("real", 2.6))]).state.suppression).toBeNull();
  });
});

describe("the fold of facts", () => {
  const record = (svixId: string, atMs: number, emailId = "e1") => ({ reason: "bounced" as const, source: "event" as const, atMs, svixId, emailId, campaignId: "", actor: "", note: "", detail: "General" });

  it("derives nothing from a stand-in whose real suppression is known, whichever was added first", () => {
    const standInFact = { kind: "lasting" as const, record: record(reconstructedSvixId("e1", "email.bounced"), epoch), reconstructed: true as const };
    const realFact = { kind: "lasting" as const, record: record("real", epoch + day) };
    const first = addFact(addFact(emptyFacts(), standInFact, policy), realFact, policy);
    const second = addFact(addFact(emptyFacts(), realFact, policy), standInFact, policy);
    expect(first).toEqual(second);
    expect(deriveSuppression(first, policy)).toMatchObject({ svixId: "real" });
    expect(deriveSuppression(addFact(emptyFacts(), standInFact, policy), policy)).toMatchObject({ svixId: standInFact.record.svixId });
  });

  it("stay under the cap when a sender loops on one address, the earliest stand-in still deciding", () => {
    const flood: Fact[] = [];
    for (let i = 0; i < lastingKeyCap + 200; i++) {
      const emailId = `e${i}`;
      flood.push({ kind: "lasting", record: record(reconstructedSvixId(emailId, "email.bounced"), epoch + i * 60_000, emailId), reconstructed: true });
      if (i > 0) flood.push({ kind: "lasting", record: record(`real${i}`, epoch + i * 60_000 + 1, emailId) });
    }
    const facts = flood.reduce((state, fact) => addFact(state, fact, policy), emptyFacts());
    expect(facts.standIns?.length).toBe(lastingKeyCap);
    expect(facts.realLastingKeys?.length).toBe(lastingKeyCap);
    expect(deriveSuppression(facts, policy)).toMatchObject({ emailId: "e0", svixId: reconstructedSvixId("e0", "email.bounced") });
  });
});
