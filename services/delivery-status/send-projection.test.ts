import { describe, expect, it } from "vitest";
import { seededRandom, shuffle } from "../../test/seeded-random.ts";
import {
  addRetired,
  compareFacts,
  decidingFacts,
  decidingTerminalFacts,
  foldFacts,
  noneRetired,
  projectSend,
  type EventFact,
  type Registration,
} from "./send-projection.ts";

const us = (second: number) => 1_767_000_000_000_000 + second * 1_000_000;
const fact = (svixId: string, kind: EventFact["kind"], second: number, extra: Partial<EventFact> = {}): EventFact => ({
  svixId,
  kind,
  atUs: us(second),
  ...extra,
});
const hard = { type: "Permanent", subType: "General", message: "no such user", diagnosticCode: "550" };
const soft = { type: "Transient", subType: "MailboxFull", message: "full", diagnosticCode: "" };
const registration: Registration = { campaignId: "c1", subscriberId: "s1", recipient: "a@x.io", sentAtUs: us(0), recordedAtUs: us(1) };

describe("the send projection", () => {
  it("moves forward through sent < delivery_delayed < delivered < opened < clicked, never back", () => {
    const state = projectSend(registration, [
      fact("e1", "clicked", 30),
      fact("e2", "delivered", 10),
      fact("e3", "delivery_delayed", 40),
      fact("e4", "opened", 20),
      fact("e5", "sent", 5),
    ]);
    expect(state.status).toBe("clicked");
    expect(state.deliveredAtUs).toBe(us(10));
    expect(state.firstOpenedAtUs).toBe(us(20));
    expect(state.firstClickedAtUs).toBe(us(30));
    expect(state.deliveryDelayedAtUs).toBe(us(40));
    expect(state.lastEventAtUs).toBe(us(40));
    expect(state.sentAtUs).toBe(us(0)); // the registration's sent time wins over email.sent
  });

  it("lets a terminal status override any progress", () => {
    for (const [kind, extra] of [
      ["bounced", { bounce: hard }],
      ["complained", {}],
      ["failed", { failureReason: "reached_daily_quota" }],
      ["suppressed", { suppression: { type: "OnAccountSuppressionList", message: "m" } }],
    ] as const) {
      const state = projectSend(registration, [fact("t", kind, 5, extra), fact("c", "clicked", 50)]);
      expect(state.status).toBe(kind);
    }
  });

  it("between terminals lets the later event time win", () => {
    const failedThenSuppressed = projectSend(registration, [fact("b", "suppressed", 20), fact("a", "failed", 10)]);
    expect(failedThenSuppressed.status).toBe("suppressed");
    const bouncedThenComplained = projectSend(registration, [fact("b", "complained", 20), fact("a", "bounced", 10, { bounce: hard })]);
    expect(bouncedThenComplained.status).toBe("complained");
    expect(bouncedThenComplained.bouncedAtUs).toBe(us(10)); // kept although the complaint overrode it
    expect(bouncedThenComplained.bounce).toEqual(hard);
  });

  it("never replaces a complaint with a later bounce", () => {
    const state = projectSend(registration, [fact("a", "complained", 10), fact("b", "bounced", 20, { bounce: hard })]);
    expect(state.status).toBe("complained");
    expect(state.complainedAtUs).toBe(us(10));
  });

  it("records a soft bounce without changing the status", () => {
    const state = projectSend(registration, [
      fact("d", "delivered", 5),
      fact("s1", "bounced", 10, { bounce: soft }),
      fact("s2", "bounced", 20, { bounce: { ...soft, type: "Undetermined", subType: "General" } }),
    ]);
    expect(state.status).toBe("delivered");
    expect(state.softBounceCount).toBe(2);
    expect(state.lastSoftBounceAtUs).toBe(us(20));
    expect(state.lastSoftBounce?.type).toBe("Undetermined");
    expect(state.bouncedAtUs).toBeUndefined();
  });

  it("counts distinct opens and clicks and keeps the first time of each", () => {
    const state = projectSend(registration, [fact("o2", "opened", 30), fact("o1", "opened", 20), fact("k1", "clicked", 40)]);
    expect(state.openCount).toBe(2);
    expect(state.clickCount).toBe(1);
    expect(state.firstOpenedAtUs).toBe(us(20));
  });

  it("falls back to tags and a single `to` before registration, and the registration replaces them", () => {
    const facts = [
      fact("b", "delivered", 20, { campaignTag: "tagged-late", subscriberTag: "s-late" }),
      fact("a", "sent", 10, { campaignTag: "tagged", subscriberTag: "s-tag", soleRecipient: "b@y.io" }),
    ];
    const before = projectSend(undefined, facts);
    expect(before).toMatchObject({ attributed: false, campaignId: "tagged", subscriberId: "s-tag", recipient: "b@y.io", sentAtUs: us(10) });
    expect(before.recordedAtUs).toBeUndefined();
    const after = projectSend(registration, facts);
    expect(after).toMatchObject({ attributed: true, campaignId: "c1", subscriberId: "s1", recipient: "a@x.io", sentAtUs: us(0), recordedAtUs: us(1) });
  });

  it("breaks event-time ties by svix id, so equal times converge too", () => {
    const a = fact("a", "failed", 10, { failureReason: "x" });
    const b = fact("b", "suppressed", 10, { suppression: { type: "t", message: "m" } });
    expect(projectSend(registration, [a, b])).toEqual(projectSend(registration, [b, a]));
    expect(projectSend(registration, [b, a]).status).toBe("suppressed");
  });

  it("keeps the first unsubscribe's time without changing the status", () => {
    const facts = [fact("d", "delivered", 5), fact("u2", "unsubscribed", 40), fact("o", "opened", 20), fact("u1", "unsubscribed", 30)];
    const state = projectSend(registration, facts);
    expect(state).toMatchObject({ status: "opened", unsubscribedAtUs: us(30), lastEventAtUs: us(40) });
    expect(projectSend(registration, [fact("b", "bounced", 10, { bounce: hard }), fact("u", "unsubscribed", 20)]).status).toBe("bounced");
    expect(projectSend(registration, [fact("d", "delivered", 5)]).unsubscribedAtUs).toBeUndefined();
  });

  it("is sent with no events", () => {
    expect(projectSend(registration, [])).toMatchObject({ status: "sent", openCount: 0 });
    expect(projectSend(registration, []).lastEventAtUs).toBeUndefined();
  });
});

describe("the facts that decide a send", () => {
  const kinds: EventFact["kind"][] = ["sent", "delivery_delayed", "delivered", "opened", "clicked", "bounced", "complained", "failed", "suppressed", "unsubscribed"];
  const randomFact = (random: () => number, i: number): EventFact => {
    const kind = kinds[Math.floor(random() * kinds.length)]!;
    const extra: Partial<EventFact> =
      kind === "bounced" ? { bounce: random() < 0.5 ? { ...hard, message: `m${i}` } : { ...soft, message: `m${i}` } }
      : kind === "failed" ? { failureReason: `r${i}` }
      : kind === "suppressed" ? { suppression: { type: "t", message: `m${i}` } }
      : {};
    if (random() < 0.2) Object.assign(extra, { campaignTag: `c${i}`, subscriberTag: `s${i}`, soleRecipient: `r${i}@x.io` });
    // Reconstructed facts (issue 16) among the real ones, mostly at the send time as a reconciliation publishes them.
    if (random() < 0.25) return fact(`e${String(i).padStart(3, "0")}`, kind, random() < 0.7 ? 0 : Math.floor(random() * 40), { ...extra, reconstructed: true });
    return fact(`e${String(i).padStart(3, "0")}`, kind, Math.floor(random() * 40), extra);
  };
  const realCount = (facts: readonly EventFact[], counted: (fact: EventFact) => boolean) => facts.filter((fact) => !fact.reconstructed && counted(fact)).length;
  const isSoftBounce = (fact: EventFact) => fact.kind === "bounced" && fact.bounce?.type !== "Permanent";
  const categoryOf = (fact: EventFact) => (fact.kind === "bounced" ? (isSoftBounce(fact) ? "soft" : "hard") : fact.kind);

  it("fold to the same state as every fact when the others are replaced by their counts, whatever else is kept", () => {
    const random = seededRandom(13);
    for (let trial = 0; trial < 300; trial++) {
      const facts = Array.from({ length: 1 + Math.floor(random() * 60) }, (_, i) => randomFact(random, i));
      const deciding = new Set(decidingFacts(facts));
      // Any superset of the deciding facts: what a document holds between two retirements.
      const kept = facts.filter((candidate) => deciding.has(candidate) || random() < 0.3);
      const retired = addRetired(noneRetired, facts.filter((candidate) => !kept.includes(candidate)));
      for (const reg of [registration, undefined]) {
        // The reference folds every fact, as a document keeping all of them did.
        const everyFact = foldFacts(reg, [...facts].sort(compareFacts), addRetired(noneRetired, facts));
        expect(projectSend(reg, shuffle(kept, random), retired), `trial ${trial}`).toEqual(everyFact);
        expect(projectSend(reg, facts), `trial ${trial}`).toEqual(everyFact);
        // Counted from the input: real facts only, however many were retired.
        expect(everyFact, `trial ${trial}`).toMatchObject({
          openCount: realCount(facts, (candidate) => candidate.kind === "opened"),
          clickCount: realCount(facts, (candidate) => candidate.kind === "clicked"),
          softBounceCount: realCount(facts, isSoftBounce),
        });
      }
    }
  });

  it("fold as if a reconstructed fact were absent once a real fact of its kind exists, and as if it were real before (counts aside)", () => {
    const random = seededRandom(16);
    for (let trial = 0; trial < 300; trial++) {
      const facts = Array.from({ length: 1 + Math.floor(random() * 40) }, (_, i) => randomFact(random, i));
      const realCategories = new Set(facts.filter((candidate) => !candidate.reconstructed).map(categoryOf));
      const standing = facts.filter((candidate) => !candidate.reconstructed || !realCategories.has(categoryOf(candidate)));
      const asReal = standing.map(({ reconstructed: _reconstructed, ...candidate }) => candidate);
      const counts = { opened: 0, clicked: 0, softBounced: 0 };
      for (const candidate of facts.filter((candidate) => !candidate.reconstructed)) {
        if (candidate.kind === "opened") counts.opened++;
        else if (candidate.kind === "clicked") counts.clicked++;
        else if (isSoftBounce(candidate)) counts.softBounced++;
      }
      for (const reg of [registration, undefined]) {
        const expected = foldFacts(reg, asReal.sort(compareFacts), counts);
        expect(projectSend(reg, shuffle(facts, random)), `trial ${trial}`).toEqual(expected);
      }
    }
  });

  it("are the first and last of each kind, the first of each tag and the first 50 terminal ones, however many there are", () => {
    const opens = Array.from({ length: 500 }, (_, i) => fact(`o${i}`, "opened", 100 + i));
    const complaints = Array.from({ length: 80 }, (_, i) => fact(`c${String(i).padStart(2, "0")}`, "complained", 1000 + i));
    const deciding = decidingFacts([...opens, ...complaints, fact("d", "delivered", 50, { campaignTag: "camp" })]).map((kept) => kept.svixId);
    expect(deciding).toEqual(["d", "o0", "o499", ...complaints.slice(0, decidingTerminalFacts).map((kept) => kept.svixId), "c79"]);
  });
});
