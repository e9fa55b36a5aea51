/**
 * The suppression of an address is a function of the set of its events:
 * every arrival order and any number of redeliveries end in the same state,
 * and the transitions announced on the way net out to it.
 */
import { describe, expect, it } from "vitest";
import { defaultSoftBouncePolicy as policy } from "./soft-bounce-policy.ts";
import { applyEvent, type AddressEvent, type SuppressionRecord } from "./subscriber-state.ts";
import { announcedSuppressed, day, delivered, epoch, permutations, run, seededRandom, shuffle, soft, unsubscribed } from "../../test/support/suppression-events.ts";

const recordOf = (svixId: string, atDay: number, fields: Pick<SuppressionRecord, "reason" | "source" | "detail">): SuppressionRecord => ({
  ...fields,
  atMs: epoch + atDay * day,
  svixId,
  emailId: `e_${svixId}`,
  campaignId: "c1",
  actor: "",
  note: "",
});

// Each in event time, with the suppression it folds to.
const histories: [label: string, history: AddressEvent[], expected: SuppressionRecord][] = [
  [
    // Two bounces, a delivery that resets the streak, then the three bounces of a new streak.
    "a streak reset by a delivery, then a new streak",
    [soft("b1", 1), soft("b2", 2), delivered("d1", 3), soft("b3", 4), soft("b4", 5), soft("b5", 6)],
    recordOf("b5", 6, { reason: "soft_bounce_policy", source: "policy", detail: "MailboxFull" }),
  ],
  [
    // The unsubscribe comes before the streak would complete: it is the suppression, and deliveries dated around it do not lift it.
    "an unsubscribe among soft bounces and deliveries",
    [soft("b1", 1), soft("b2", 2), delivered("d1", 3), unsubscribed("u1", 3.5), soft("b3", 4), delivered("d2", 4.5), soft("b4", 5)],
    recordOf("u1", 3.5, { reason: "unsubscribed", source: "event", detail: "" }),
  ],
  [
    // Orders that see the three bounces before the delivery suppress by the policy first; the later delivery lifts
    // that, and the unsubscribe dated after it is what remains.
    "an unsubscribe after a streak that a late delivery breaks",
    [soft("b1", 1), soft("b2", 2), delivered("d1", 2.5), soft("b3", 3), unsubscribed("u1", 4)],
    recordOf("u1", 4, { reason: "unsubscribed", source: "event", detail: "" }),
  ],
];

const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));

describe("the suppression of an address", () => {
  it.each(histories)("is the same for every ordering of %s, and so is what was announced on the way", (_label, history, expected) => {
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
    expect(orders).toBe(factorial(history.length));
  });

  it.each(histories)("is the same for %s whatever duplicates arrive in whatever order, including copies that knew less", (_label, history, expected) => {
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
