/**
 * The suppression of an address is a function of the set of its events:
 * every arrival order and any number of redeliveries end in the same state,
 * and the transitions announced on the way net out to it.
 */
import { describe, expect, it } from "vitest";
import { defaultSoftBouncePolicy as policy } from "./soft-bounce-policy.ts";
import { applyEvent, type AddressEvent } from "./subscriber-state.ts";
import { announcedSuppressed, day, delivered, epoch, permutations, run, seededRandom, shuffle, soft } from "../../test/support/suppression-events.ts";

// In event time: two bounces, a delivery that resets the streak, then the three bounces of a new streak.
const history: AddressEvent[] = [soft("b1", 1), soft("b2", 2), delivered("d1", 3), soft("b3", 4), soft("b4", 5), soft("b5", 6)];
const expected = {
  reason: "soft_bounce_policy",
  source: "policy",
  atMs: epoch + 6 * day,
  svixId: "b5",
  emailId: "e_b5",
  campaignId: "c1",
  actor: "",
  note: "",
  detail: "MailboxFull",
};

describe("the suppression of an address", () => {
  it("is the same for every ordering of a six-event history, and so is what was announced on the way", () => {
    const reference = run(history).state;
    expect(reference.suppression).toEqual(expected);
    let orders = 0;
    for (const order of permutations(history)) {
      const { state, transitions } = run(order);
      const label = order.map((event) => event.svixId).join(",");
      expect(state.suppression, label).toEqual(expected);
      expect(state.facts, label).toEqual(reference.facts);
      expect(announcedSuppressed(transitions), label).toBe(true);
      orders++;
    }
    expect(orders).toBe(720);
  });

  it("is the same whatever duplicates arrive in whatever order, including copies that knew less", () => {
    const reference = run(history).state;
    const random = seededRandom(20261127);
    for (let trial = 0; trial < 300; trial++) {
      const copies = history.flatMap((event) =>
        Array.from({ length: 1 + Math.floor(random() * 3) }, (_, copy) =>
          // A copy applied before its send record arrived carries no campaign.
          copy > 0 && random() < 0.5 ? { ...event, campaignId: "" } : event,
        ),
      );
      const { state, transitions } = run(shuffle(copies, random));
      expect(state.suppression, `trial ${trial}`).toEqual(expected);
      expect(state.facts, `trial ${trial}`).toEqual(reference.facts);
      expect(announcedSuppressed(transitions), `trial ${trial}`).toBe(true);
    }
  });

  it.each([
    ["within the replay horizon", 1],
    ["beyond the replay horizon", 4],
  ])("is unchanged by a replay of its first soft bounce after 300 events (%s)", (_label, hoursApart) => {
    // Per four events: a counted soft bounce, two message-level ones, a delivery (so no streak ever forms).
    const events = Array.from({ length: 300 }, (_, i): AddressEvent => {
      const atDay = (i * hoursApart) / 24;
      if (i % 4 === 0) return soft(`s${i}`, atDay);
      if (i % 4 === 3) return delivered(`d${i}`, atDay);
      return soft(`m${i}`, atDay, "MessageTooLarge");
    });
    const { state } = run(events);
    expect(state.suppression).toBeNull();
    const replay = applyEvent(state, events[0]!, policy, 2);
    expect(replay.changed).toBe(false);
    expect(replay.state).toEqual(state);
    expect(replay.transition).toBeUndefined();
  });
});
