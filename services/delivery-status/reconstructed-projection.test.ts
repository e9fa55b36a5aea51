import { describe, expect, it } from "vitest";
import { seededRandom, shuffle } from "../../test/seeded-random.ts";
import { addRetired, noneRetired, projectSend, type EventFact, type Registration } from "./send-projection.ts";
import { planRetirement } from "./send-retirement.ts";

// A reconstructed event's time is the email's send time at Resend: second 0 here, the real events come later.
const us = (second: number) => 1_767_000_000_000_000 + second * 1_000_000;
const real = (svixId: string, kind: EventFact["kind"], second: number, extra: Partial<EventFact> = {}): EventFact => ({ svixId, kind, atUs: us(second), ...extra });
const reconstructed = (kind: EventFact["kind"], extra: Partial<EventFact> = {}): EventFact => ({
  svixId: `reconciliation:e1:email.${kind}`,
  kind,
  atUs: us(0),
  reconstructed: true,
  ...extra,
});
const hard = { type: "Permanent", subType: "General", message: "no such user", diagnosticCode: "" };
const realHard = { type: "Permanent", subType: "NoEmail", message: "550 5.1.1 unknown", diagnosticCode: "550 5.1.1" };
const soft = { type: "Transient", subType: "MailboxFull", message: "full", diagnosticCode: "" };
const registration: Registration = { campaignId: "c1", subscriberId: "s1", recipient: "a@x.io", sentAtUs: us(0), recordedAtUs: us(1) };

const reconstructedClick = [reconstructed("delivered"), reconstructed("opened"), reconstructed("clicked")];
const realHistory = [real("d", "delivered", 10), real("o1", "opened", 20), real("o2", "opened", 25), real("k1", "clicked", 30)];

describe("reconstructed facts in the send projection", () => {
  it("move the status and set the times like real ones, but count no open or click", () => {
    const state = projectSend(registration, reconstructedClick);
    expect(state).toMatchObject({ status: "clicked", deliveredAtUs: us(0), firstOpenedAtUs: us(0), firstClickedAtUs: us(0), openCount: 0, clickCount: 0 });
  });

  it("give way to the real facts of their kind, whichever arrive first", () => {
    const random = seededRandom(16);
    const withoutReconstructed = projectSend(registration, realHistory);
    for (let trial = 0; trial < 20; trial++) {
      const state = projectSend(registration, shuffle([...reconstructedClick, ...realHistory], random));
      expect(state).toEqual(withoutReconstructed);
    }
    expect(withoutReconstructed).toMatchObject({ status: "clicked", deliveredAtUs: us(10), firstOpenedAtUs: us(20), firstClickedAtUs: us(30), openCount: 2, clickCount: 1 });
  });

  it("keep deciding their own kind while only real facts of other kinds exist", () => {
    const state = projectSend(registration, [...reconstructedClick, real("o1", "opened", 20)]);
    expect(state).toMatchObject({ status: "clicked", deliveredAtUs: us(0), firstOpenedAtUs: us(20), firstClickedAtUs: us(0), openCount: 1, clickCount: 0 });
  });

  it("make a send bounced after a real delivery, with the reconstructed bounce detail until the real bounce arrives", () => {
    const delivered = real("d", "delivered", 10);
    const bounce = reconstructed("bounced", { bounce: hard });
    expect(projectSend(registration, [delivered, bounce])).toMatchObject({ status: "bounced", deliveredAtUs: us(10), bouncedAtUs: us(0), bounce: hard });
    const both = projectSend(registration, [delivered, bounce, real("b", "bounced", 40, { bounce: realHard })]);
    expect(both).toMatchObject({ status: "bounced", bouncedAtUs: us(40), bounce: realHard });
  });

  it("keep a reconstructed hard bounce when only a real soft bounce arrives: it is not the bounce Resend reported", () => {
    const state = projectSend(registration, [real("d", "delivered", 10), reconstructed("bounced", { bounce: hard }), real("s", "bounced", 20, { bounce: soft })]);
    expect(state).toMatchObject({ status: "bounced", bounce: hard, lastSoftBounce: soft, lastSoftBounceAtUs: us(20), softBounceCount: 1 });
  });

  it("record a reconstructed soft bounce without counting it, until a real one replaces it", () => {
    const alone = projectSend(registration, [reconstructed("bounced", { bounce: soft })]);
    expect(alone).toMatchObject({ status: "sent", lastSoftBounce: soft, lastSoftBounceAtUs: us(0), softBounceCount: 0 });
    const realSoft = { ...soft, subType: "General" };
    const replaced = projectSend(registration, [reconstructed("bounced", { bounce: soft }), real("s", "bounced", 20, { bounce: realSoft })]);
    expect(replaced).toMatchObject({ lastSoftBounce: realSoft, lastSoftBounceAtUs: us(20), softBounceCount: 1 });
  });

  it("are terminal as complaint, failure and suppression, with their detail until a real one of the kind exists", () => {
    const delivered = real("d", "delivered", 10);
    expect(projectSend(registration, [delivered, reconstructed("complained")])).toMatchObject({ status: "complained", complainedAtUs: us(0) });
    expect(projectSend(registration, [delivered, reconstructed("complained"), real("c", "complained", 50)]).complainedAtUs).toBe(us(50));
    const failure = reconstructed("failed", { failureReason: "from the api" });
    expect(projectSend(registration, [failure])).toMatchObject({ status: "failed", failedAtUs: us(0), failureReason: "from the api" });
    expect(projectSend(registration, [failure, real("f", "failed", 5, { failureReason: "quota" })])).toMatchObject({ failedAtUs: us(5), failureReason: "quota" });
    const suppression = reconstructed("suppressed", { suppression: { type: "", message: "" } });
    expect(projectSend(registration, [suppression])).toMatchObject({ status: "suppressed", suppressedAtUs: us(0) });
    const realSuppression = { type: "OnAccountSuppressionList", message: "m" };
    expect(projectSend(registration, [suppression, real("x", "suppressed", 5, { suppression: realSuppression })])).toMatchObject({
      suppressedAtUs: us(5),
      suppression: realSuppression,
    });
    expect(projectSend(registration, [reconstructed("delivery_delayed"), real("dd", "delivery_delayed", 7)]).deliveryDelayedAtUs).toBe(us(7));
  });

  it("decide nothing between terminals once replaced: a superseded complaint at the send time no longer hides a real earlier bounce", () => {
    const facts = [reconstructed("complained"), real("b", "bounced", 20, { bounce: realHard }), real("c", "complained", 30)];
    expect(projectSend(registration, facts)).toMatchObject({ status: "complained", complainedAtUs: us(30), bouncedAtUs: us(20), bounce: realHard });
  });

  it("never count when retired, and leave the state as folding every fact when the send retires around them", () => {
    expect(addRetired(noneRetired, [...reconstructedClick, reconstructed("bounced", { bounce: soft })])).toEqual(noneRetired);
    const opens = Array.from({ length: 300 }, (_, i) => real(`o${String(i).padStart(3, "0")}`, "opened", 100 + i));
    const history = [...reconstructedClick, reconstructed("bounced", { bounce: soft }), ...opens];
    let facts: EventFact[] = [];
    let retired = noneRetired;
    const everRetired = new Set<string>();
    for (const fact of history) {
      const next = [...facts, fact];
      const retirement = planRetirement(facts, next, retired);
      for (const gone of retirement?.retired ?? []) everRetired.add(gone.svixId);
      facts = retirement?.kept ?? next;
      retired = retirement?.counts ?? retired;
    }
    expect(everRetired).toContain("reconciliation:e1:email.opened"); // superseded by the first real open, so retired
    expect(retired.opened).toBe([...everRetired].filter((id) => !id.startsWith("reconciliation:")).length);
    const state = projectSend(registration, facts, retired);
    expect(state).toEqual(projectSend(registration, history));
    expect(state).toMatchObject({ status: "clicked", openCount: 300, clickCount: 0, softBounceCount: 0, firstOpenedAtUs: us(100), firstClickedAtUs: us(0) });
  });
});
