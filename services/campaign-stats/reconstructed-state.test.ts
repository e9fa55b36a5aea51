/**
 * Reconstructed facts in a send's statistics state (issue 16): each stands in for the real facts of its kind
 * while the send has none, counts toward send-level numbers only, and decides nothing once a real one exists.
 */
import { describe, expect, it } from "vitest";
import { seededRandom, shuffle } from "../../test/seeded-random.ts";
import type { CountField } from "./counts.ts";
import {
  applyFact,
  applyReconstructedFact,
  applyRecord,
  contributionDelta,
  contributionOf,
  emptySendState,
  hourMs,
  settleClicks,
  sumContributions,
  upgradeSendState,
  type ContributionPart,
  type SendFact,
  type SendState,
} from "./send-state.ts";

const rules = { scannerWindowMs: 10_000 };
const sentAt = Date.UTC(2026, 10, 26, 9, 30, 0);
const sentHour = Date.UTC(2026, 10, 26, 9, 0, 0);
const human = { uaScanner: false };

type Kind = SendFact["kind"];
/** A reconstructed fact as the ingest path gives it: a kind at the email's sent time. */
type Applied = { fact: SendFact; reconstructed: boolean };
const real = (fact: SendFact): Applied => ({ fact, reconstructed: false });
const rebuilt = (kind: Kind, t = sentAt): Applied => ({ fact: kind === "clicked" ? { kind, t, link: "", uaScanner: false } : { kind, t }, reconstructed: true });

/** Folds the facts as the service does (apply, then settle), from a registered send, summing the deltas on the way. */
function fold(applied: readonly Applied[], start: SendState = applyRecord(emptySendState(), "camp", sentAt)) {
  let state = start;
  const deltas = [contributionOf(state, rules)];
  for (const { fact, reconstructed } of applied) {
    const next = settleClicks(reconstructed ? applyReconstructedFact(state, fact) : applyFact(state, fact), rules);
    deltas.push(contributionDelta(contributionOf(state, rules), contributionOf(next, rules)));
    state = next;
  }
  return { state, contribution: contributionOf(state, rules), summed: sumContributions(deltas) };
}

/** A campaign part's counts (its per-provider copies, `<provider>:<field>`, are deliverability/provider-counts.test.ts's). */
const campaignOf = (parts: ContributionPart[]) =>
  Object.fromEntries(Object.entries(parts.find((part) => part.kind === "campaign")!.inc).filter(([field]) => !field.includes(":")));
const hoursOf = (parts: ContributionPart[]) => parts.flatMap((part) => (part.kind === "hour" ? [[part.hour, part.inc] as const] : []));
const linksOf = (parts: ContributionPart[]) => parts.filter((part) => part.kind === "link");
/** Summed amounts per document, zeros and documents left at zero dropped (a stand-in's hour may net to nothing). */
const withoutZeros = (sums: Map<string, Record<string, number>>) =>
  new Map(
    [...sums]
      .map(([key, value]) => [key, Object.fromEntries(Object.entries(value).filter(([, n]) => n !== 0))] as const)
      .filter(([, value]) => Object.keys(value).length > 0),
  );

/** The number each kind of fact gives a send (written out here, not taken from the code under test). */
const fieldOfKind: Record<Kind, CountField> = {
  sent: "sent",
  delivered: "delivered",
  delayed: "deliveryDelayed",
  hardBounced: "hardBounced",
  softBounced: "softBounced",
  complained: "complained",
  failed: "failed",
  suppressed: "suppressed",
  unsubscribed: "unsubscribed",
  opened: "uniqueOpens",
  clicked: "uniqueClicks",
};

describe("reconstructed facts in a send's statistics", () => {
  it("count each kind's send-level number once, in the hour of the sent time, and never opens, clicks, scanner clicks or a link", () => {
    for (const kind of Object.keys(fieldOfKind) as Kind[]) {
      // Attributed by a tag, not a registration, so that "sent" comes from the reconstructed fact alone.
      const once = applyReconstructedFact(emptySendState(), rebuilt(kind).fact, "camp");
      const twice = applyReconstructedFact(once, rebuilt(kind, sentAt + hourMs).fact);
      for (const state of [once, twice]) {
        const parts = contributionOf(state, rules);
        expect(campaignOf(parts), kind).toEqual({ [fieldOfKind[kind]]: 1 });
        expect(hoursOf(parts), kind).toEqual([[sentHour, { [fieldOfKind[kind]]: 1 }]]);
        expect(linksOf(parts), kind).toEqual([]);
      }
    }
    const lastEventClicked = fold([rebuilt("delivered"), rebuilt("opened"), rebuilt("clicked")]).contribution;
    expect(campaignOf(lastEventClicked)).toEqual({ sent: 1, delivered: 1, uniqueOpens: 1, uniqueClicks: 1 });
  });

  it("count beside real facts of other kinds, a hard bounce beside a real soft one included", () => {
    const { contribution } = fold([
      real({ kind: "delivered", t: sentAt + 30_000 }),
      real({ kind: "opened", t: sentAt + 2 * hourMs }),
      real({ kind: "softBounced", t: sentAt + 40_000 }),
      rebuilt("clicked"),
      rebuilt("hardBounced"),
    ]);
    expect(campaignOf(contribution)).toEqual({ sent: 1, delivered: 1, opens: 1, uniqueOpens: 1, uniqueClicks: 1, hardBounced: 1, softBounced: 1 });
    expect(linksOf(contribution)).toEqual([]);
  });

  it("decide nothing once a real fact of their kind exists, in any order, whatever else the send has", () => {
    const random = seededRandom(16);
    const kinds: Kind[] = ["delivered", "delayed", "hardBounced", "softBounced", "complained", "failed", "suppressed", "unsubscribed", "opened", "clicked"];
    const links = ["https://a.test/1", "https://a.test/2"];
    for (let trial = 0; trial < 300; trial++) {
      const facts: SendFact[] = [];
      const present = new Set<Kind>();
      for (const kind of kinds) {
        if (random() < 0.5) continue;
        present.add(kind);
        for (let i = 0; i < 1 + Math.floor(random() * 3); i++) {
          // Clicks within seconds of the sent time are scanner clicks by the real delivery's timing, others human.
          const t = sentAt + 1000 + Math.floor(random() * (random() < 0.3 ? 40_000 : 3 * hourMs));
          facts.push(kind === "clicked" ? { kind, t, link: links[Math.floor(random() * links.length)]!, uaScanner: random() < 0.2 } : { kind, t });
        }
      }
      const reconstructed = [...present].filter(() => random() < 0.7).map((kind) => rebuilt(kind));
      const alone = fold(facts.map(real));
      const mixed = fold(shuffle([...facts.map(real), ...reconstructed, ...reconstructed.filter(() => random() < 0.3)], random));
      expect(mixed.contribution, `trial ${trial}`).toEqual(alone.contribution);
      expect(withoutZeros(mixed.summed), `trial ${trial}`).toEqual(withoutZeros(alone.summed));
    }
  });

  it("give way to a real open at 10:05: the unique open moves from the sent hour to 10:00, and opens counts the real opens", () => {
    const tenOFive = Date.UTC(2026, 10, 26, 10, 5, 0);
    const tenTwenty = Date.UTC(2026, 10, 26, 10, 20, 0);
    for (const order of [
      [rebuilt("opened"), real({ kind: "opened", t: tenOFive }), real({ kind: "opened", t: tenTwenty })],
      [real({ kind: "opened", t: tenTwenty }), real({ kind: "opened", t: tenOFive }), rebuilt("opened")],
    ]) {
      const { contribution, summed } = fold(order);
      expect(campaignOf(contribution)).toEqual({ sent: 1, opens: 2, uniqueOpens: 1 });
      expect(hoursOf(contribution)).toEqual([
        [sentHour, { sent: 1 }],
        [Date.UTC(2026, 10, 26, 10), { opens: 2, uniqueOpens: 1 }],
      ]);
      expect(withoutZeros(summed)).toEqual(withoutZeros(sumContributions([contribution])));
    }
  });

  it("give way to a real click judged a scanner's: unique clicks, clicks and the link are what the real clicks give", () => {
    const deliveredAt = sentAt + 30_000;
    const scannerClick = real({ kind: "clicked", t: deliveredAt + 2000, link: "https://a.test/1", ...human });
    const { contribution } = fold([rebuilt("delivered"), rebuilt("clicked"), scannerClick, real({ kind: "delivered", t: deliveredAt })]);
    expect(campaignOf(contribution)).toEqual({ sent: 1, delivered: 1, clicks: 1, scannerClicks: 1, uniqueClicks: 1 });
    expect(linksOf(contribution).map((part) => part.inc)).toEqual([{ clicks: 1, uniqueClicks: 1, scannerClicks: 1 }]);
    expect(contribution).toEqual(fold([scannerClick, real({ kind: "delivered", t: deliveredAt })]).contribution);
  });

  it("judge real clicks before the sent time + window as scanner clicks, and leave the later ones to the real delivery", () => {
    const early = real({ kind: "clicked", t: sentAt + 5000, link: "https://a.test/1", ...human });
    const beforeRealDelivery = real({ kind: "clicked", t: sentAt + 60_000, link: "https://a.test/1", ...human });
    const withoutRealDelivery = fold([rebuilt("delivered"), early, beforeRealDelivery]);
    expect(campaignOf(withoutRealDelivery.contribution)).toMatchObject({ clicks: 2, scannerClicks: 1 });
    // The real delivery at +2 min comes later than the reconstructed one (the sent time) and judges both.
    const withRealDelivery = fold([real({ kind: "delivered", t: sentAt + 120_000 })], withoutRealDelivery.state);
    expect(campaignOf(withRealDelivery.contribution)).toMatchObject({ clicks: 2, scannerClicks: 2 });
  });

  it("read a state stored before reconstructed facts were counted as one with none, and count the first one", () => {
    const current = fold([real({ kind: "delivered", t: sentAt + 30_000 }), real({ kind: "opened", t: sentAt + hourMs })]).state;
    const { reconstructed: _r, ...stored } = current;
    const read = upgradeSendState(stored);
    expect(read.reconstructed).toEqual({});
    expect(contributionOf(read, rules)).toEqual(contributionOf(current, rules));
    const after = fold([rebuilt("clicked")], read).contribution;
    expect(contributionDelta(contributionOf(read, rules), after).map((part) => [part.kind, part.inc])).toEqual([
      ["campaign", { uniqueClicks: 1, "other:uniqueClicks": 1 }],
      ["hour", { uniqueClicks: 1 }],
      ["day", { "other:uniqueClicks": 1 }],
    ]);
  });
});
