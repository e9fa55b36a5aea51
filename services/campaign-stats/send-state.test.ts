/** A send's statistics state stays bounded by hours and links, never by events, and contributes what keeping every event did. */
import { BSON } from "mongodb";
import { describe, expect, it } from "vitest";
import { seededRandom, shuffle } from "../../test/seeded-random.ts";
import {
  applyFact,
  applyRecord,
  contributionDelta,
  contributionOf,
  emptySendState,
  hourMs,
  settleClicks,
  sumContributions,
  undecidedClickCap,
  upgradeSendState,
  type ClickRecord,
  type SendFact,
  type SendState,
} from "./send-state.ts";

const rules = { scannerWindowMs: 10_000 };
const base = Date.UTC(2026, 10, 26, 10, 0, 0);

/** The state as it was stored before it kept counts: every open time and every click, in arrival order. */
function everyEvent(facts: readonly SendFact[], campaignId: string): SendState {
  const opens = facts.filter((fact) => fact.kind === "opened").map((fact) => fact.t);
  const clicks: ClickRecord[] = facts.flatMap((fact) => (fact.kind === "clicked" ? [{ t: fact.t, link: fact.link, uaScanner: fact.uaScanner }] : []));
  let state = applyRecord(emptySendState(), campaignId, base);
  for (const fact of facts) if (fact.kind !== "opened" && fact.kind !== "clicked") state = applyFact(state, fact);
  const { openHours: _o, undecidedOpens: _u, firstOpenAt: _f, clickHours: _h, clickLinks: _l, firstClickAt: _c, clicks: _k, ...old } = state;
  // Every open kept one by one too, each judged by the machine-open rule (the old shape tallied them).
  return { ...upgradeSendState({ ...old, opens: [], clicks }), undecidedOpens: [...opens].sort((a, b) => a - b), firstOpenAt: opens.length > 0 ? Math.min(...opens) : null };
}

/** Folds the facts one at a time as the service does (apply, then settle), summing the deltas on the way. */
function fold(facts: readonly SendFact[], campaignId: string) {
  let state = applyRecord(emptySendState(), campaignId, base);
  const deltas = [contributionOf(state, rules)];
  for (const fact of facts) {
    const next = settleClicks(applyFact(state, fact), rules);
    deltas.push(contributionDelta(contributionOf(state, rules), contributionOf(next, rules)));
    state = next;
  }
  return { state, summed: sumContributions(deltas) };
}

const withoutZeros = (sums: Map<string, Record<string, number>>) =>
  new Map([...sums].map(([key, value]) => [key, Object.fromEntries(Object.entries(value).filter(([, n]) => n !== 0))]));

describe("a send's statistics state", () => {
  it("contributes what keeping every event did, in any order, with deliveries arriving before or after the clicks they judge", () => {
    const random = seededRandom(26);
    for (let trial = 0; trial < 200; trial++) {
      const deliveredAt = base + Math.floor(random() * 3) * 60_000;
      const facts: SendFact[] = [{ kind: "sent", t: base }];
      for (let i = 0; i < 1 + Math.floor(random() * 3); i++) facts.push({ kind: "delivered", t: deliveredAt + i * Math.floor(random() * 20_000) });
      for (let i = 0; i < Math.floor(random() * 40); i++) facts.push({ kind: "opened", t: deliveredAt + Math.floor(random() * 5 * hourMs) });
      // Prefetches within seconds of a delivery (machine opens by rule), before or after it arrives.
      for (let i = 0; i < Math.floor(random() * 3); i++) facts.push({ kind: "opened", t: deliveredAt - 1_000 + Math.floor(random() * 8_000) });
      const clicks = trial % 10 === 0 ? undecidedClickCap + 20 : Math.floor(random() * 30);
      for (let i = 0; i < clicks; i++) {
        // Many within seconds of a delivery (scanner by rule 2), some by a scanner's user agent, some hours later.
        const t = deliveredAt - 5_000 + Math.floor(random() * (random() < 0.5 ? 30_000 : 3 * hourMs));
        facts.push({ kind: "clicked", t, link: `https://a.test/${Math.floor(random() * 4)}`, uaScanner: random() < 0.2 });
      }
      const order = shuffle(facts, random);
      const { state, summed } = fold(order, "camp");
      const reference = contributionOf(everyEvent(facts, "camp"), rules);
      expect(contributionOf(state, rules), `trial ${trial}`).toEqual(reference);
      expect(withoutZeros(summed), `trial ${trial}`).toEqual(withoutZeros(sumContributions([reference])));
      expect(state.clicks.length).toBeLessThanOrEqual(undecidedClickCap);
      // Once every delivery is in, only opens the rule calls machine opens wait one by one.
      expect(state.undecidedOpens.every((t) => t < state.deliveredAt! + 5_000)).toBe(true);
    }
  });

  it("stays as small after 10,000 opens and 1,000 clicks as after the first hundred events in the same hours", () => {
    const facts = (count: number, every: number): SendFact[] =>
      Array.from({ length: count }, (_, i): SendFact =>
        i % 10 === 9 ? { kind: "clicked", t: base + 60_000 + i * every, link: `https://a.test/${i % 5}`, uaScanner: false } : { kind: "opened", t: base + 60_000 + i * every },
      );
    const sizeAfter = (list: SendFact[]) => {
      const { state } = fold([{ kind: "delivered", t: base }, ...list], "camp");
      return BSON.calculateObjectSize({ state, contrib: contributionOf(state, rules) });
    };
    // An image proxy: 11,000 events within one hour, against the first 110 of them.
    const burst = sizeAfter(facts(11_000, 300));
    expect(burst).toBeLessThanOrEqual(sizeAfter(facts(110, 300)) * 1.02);
    // Spread over 3 days: no bigger than a send with one event in each of those hours.
    const spread = sizeAfter(facts(11_000, Math.floor((72 * hourMs) / 11_000)));
    expect(spread).toBeLessThanOrEqual(sizeAfter(facts(720, Math.floor((72 * hourMs) / 720))) * 1.02);
    expect(spread).toBeLessThan(20_000);
  });

  it("reads a state stored before unsubscribes were counted as one with none, and counts its first unsubscribe", () => {
    let current = applyFact(applyRecord(emptySendState(), "camp", base), { kind: "delivered", t: base + 60_000 });
    current = applyFact(current, { kind: "opened", t: base + 2 * hourMs });
    const { unsubscribedAt: _u, recipientProvider: _p, ...stored } = current;
    const read = upgradeSendState(stored);
    expect(read.unsubscribedAt).toBeNull();
    expect(read.recipientProvider).toBeNull(); // stored before the provider was kept, too
    expect(contributionOf(read, rules)).toEqual(contributionOf(current, rules));
    const after = applyFact(read, { kind: "unsubscribed", t: base + 3 * hourMs });
    const delta = contributionDelta(contributionOf(read, rules), contributionOf(after, rules));
    expect(delta.map((part) => [part.kind, part.kind === "hour" ? part.hour : null, part.inc])).toEqual([
      ["campaign", null, { unsubscribed: 1, "other:unsubscribed": 1 }],
      ["day", null, { "other:unsubscribed": 1 }],
      ["hour", base + 3 * hourMs, { unsubscribed: 1 }],
    ]);
  });

  it("reads a state stored with every open and click to the same contribution, and settles it", () => {
    const facts: SendFact[] = [
      { kind: "delivered", t: base },
      ...Array.from({ length: 250 }, (_, i): SendFact => ({ kind: "opened", t: base + i * 60_000 })),
      ...Array.from({ length: 150 }, (_, i): SendFact => ({ kind: "clicked", t: base + 2_000 + i * 30_000, link: `https://a.test/${i % 3}`, uaScanner: i % 7 === 0 })),
    ];
    const old = everyEvent(facts, "camp");
    expect(old.clicks).toHaveLength(150);
    const settled = settleClicks(old, rules);
    expect(settled.clicks.length).toBeLessThan(5);
    expect(contributionOf(settled, rules)).toEqual(contributionOf(old, rules));
    const campaign = contributionOf(settled, rules).find((part) => part.kind === "campaign")!;
    expect(campaign.inc).toMatchObject({ opens: 250, uniqueOpens: 1, clicks: 150, uniqueClicks: 1 });
  });
});
