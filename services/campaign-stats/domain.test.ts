/** The pure rules: scanner clicks, contributions and their order independence, alert hysteresis, rates. */
import { describe, expect, it } from "vitest";
import { evaluateAlerts, initialAlertState } from "./alerts.ts";
import { ratesOf, zeroCounts } from "./counts.ts";
import { isScannerClick, isScannerUserAgent } from "./scanner.ts";
import { applyFact, applyRecord, atProviders, contributionDelta, contributionOf, emptySendState, sumContributions, type SendFact, type SendState } from "./send-state.ts";
import { campaignOfLiveSubject, liveSubject, liveSubjectsOf } from "./watch.ts";

const rules = { scannerWindowMs: 10_000 };

describe("the scanner rule", () => {
  it("flags known security scanners and automation by user agent, not browsers", () => {
    for (const agent of ["Barracuda Sentinel", "Mimecast URL protect", "Proofpoint URL Defense", "Microsoft Office SafeLinks", "Mozilla/5.0 (compatible; bingbot/2.0)", "python-requests/2.31"]) {
      expect(isScannerUserAgent(agent), agent).toBe(true);
    }
    expect(isScannerUserAgent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148")).toBe(false);
    expect(isScannerUserAgent("")).toBe(false);
  });

  it("flags clicks within the window after delivery, and not later ones or without a delivery", () => {
    expect(isScannerClick({ t: 1_009_999, uaScanner: false }, 1_000_000, 10_000)).toBe(true);
    expect(isScannerClick({ t: 1_010_000, uaScanner: false }, 1_000_000, 10_000)).toBe(false);
    expect(isScannerClick({ t: 1_000_000, uaScanner: false }, null, 10_000)).toBe(false);
  });
});

describe("a send's contribution", () => {
  const facts: SendFact[] = [
    { kind: "sent", t: 0 },
    { kind: "delivered", t: 60_000 },
    { kind: "opened", t: 4_000_000 },
    { kind: "opened", t: 3_700_000 },
    { kind: "clicked", t: 65_000, link: "https://a.test/x.y", uaScanner: false },
    { kind: "clicked", t: 7_300_000, link: "https://a.test/x.y", uaScanner: false },
    // Reported twice (SendGrid's unsubscribe and group_unsubscribe): one unsubscribed send, in the hour of the first.
    { kind: "unsubscribed", t: 7_400_000 },
    { kind: "unsubscribed", t: 3_650_000 },
  ];

  it("is the same whatever the order of events, and the deltas add up to it", () => {
    const permutations = [facts, [...facts].reverse(), [facts[4]!, facts[6]!, facts[2]!, facts[0]!, facts[5]!, facts[7]!, facts[1]!, facts[3]!]];
    const results = permutations.map((order) => {
      let state = emptySendState();
      const deltas = [];
      for (const fact of order) {
        const next = applyFact(state, fact, "camp");
        deltas.push(contributionDelta(contributionOf(state, rules), contributionOf(next, rules)));
        state = next;
      }
      return { final: contributionOf(state, rules), summed: sumContributions(deltas) };
    });
    const withoutZeros = (sums: Map<string, Record<string, number>>) =>
      new Map([...sums].map(([key, value]) => [key, Object.fromEntries(Object.entries(value).filter(([, n]) => n !== 0))]));
    for (const result of results) {
      expect(withoutZeros(result.summed)).toEqual(withoutZeros(sumContributions([results[0]!.final])));
    }
    const campaign = results[0]!.final.find((part) => part.kind === "campaign")!;
    // The first click (5 s after delivery) is a scanner click even when the delivery arrived after it.
    // The later click is human: the send counts in human unique clicks too.
    const totals = { sent: 1, delivered: 1, opens: 2, uniqueOpens: 1, clicks: 2, uniqueClicks: 1, scannerClicks: 1, unsubscribed: 1, humanUniqueClicks: 1 };
    // The same again at the recipient's provider ("other": no event named the recipient).
    expect(campaign).toMatchObject({ provider: "other", inc: totals });
    expect(atProviders(campaign).inc).toEqual({ ...totals, ...Object.fromEntries(Object.entries(totals).map(([field, n]) => [`other:${field}`, n])) });
    const unsubscribedHours = results[0]!.final.filter((part) => part.kind === "hour" && part.inc.unsubscribed).map((part) => part.kind === "hour" && part.hour);
    expect(unsubscribedHours).toEqual([3_600_000]);
  });

  it("moves from a tag's campaign to the registered one", () => {
    const tagged = applyFact(emptySendState(), { kind: "delivered", t: 0 }, "from-tag");
    const recorded = applyRecord(tagged, "registered", 0);
    const delta = contributionDelta(contributionOf(tagged, rules), contributionOf(recorded, rules));
    const campaigns = delta.filter((part) => part.kind === "campaign").map((part) => [part.campaignId, part.inc]);
    expect(campaigns).toEqual(
      expect.arrayContaining([
        ["from-tag", { delivered: -1, "other:delivered": -1 }],
        ["registered", { sent: 1, delivered: 1, "other:sent": 1, "other:delivered": 1 }],
      ]),
    );
  });

  it("counts a send in human unique clicks until a late delivery shows its only click was a scanner's", () => {
    const clicked = applyFact(applyRecord(emptySendState(), "camp", 0), { kind: "clicked", t: 65_000, link: "https://a.test/", uaScanner: false });
    const human = (state: SendState) => contributionOf(state, rules).find((part) => part.kind === "campaign")!.inc.humanUniqueClicks ?? 0;
    expect(human(clicked)).toBe(1); // no delivery known: nothing says a scanner clicked
    expect(human(applyFact(clicked, { kind: "delivered", t: 60_000 }))).toBe(0); // 5 s after delivery: a scanner's
    expect(human(applyFact(clicked, { kind: "delivered", t: 50_000 }))).toBe(1); // 15 s after: a person's
    const scannerAgent = applyFact(applyRecord(emptySendState(), "camp", 0), { kind: "clicked", t: 9_000_000, link: "https://a.test/", uaScanner: true });
    expect(human(scannerAgent)).toBe(0);
  });

  it("is nothing while the send is not attributed", () => {
    expect(contributionOf(applyFact(emptySendState(), { kind: "delivered", t: 0 }), rules)).toEqual([]);
  });
});

describe("campaign alerts", () => {
  const settings = { hardBounceRate: 0.04, complaintRate: 0.0008, minDelivered: 100 };
  const counts = (sent: number, delivered: number, hardBounced: number) => ({ ...zeroCounts(), sent, delivered, hardBounced });

  it("wait for the minimum delivered, fire once per crossing and re-arm below 80 % of the threshold", () => {
    let state = initialAlertState();
    const step = (sent: number, delivered: number, hardBounced: number) => {
      const result = evaluateAlerts(state, counts(sent, delivered, hardBounced), settings, 0);
      state = result.state;
      return result.fired.map((alert) => alert.crossing);
    };
    expect(step(50, 40, 10)).toEqual([]); // 20 % but only 40 delivered
    expect(step(110, 100, 5)).toEqual([1]);
    expect(step(120, 100, 6)).toEqual([]);
    expect(step(180, 160, 6)).toEqual([]); // 3.33 %: above 3.2 %, still disarmed
    expect(step(190, 170, 6)).toEqual([]); // 3.16 %: re-armed
    expect(step(200, 170, 8)).toEqual([2]);
  });

  it("fire for the complaint rate (complained / delivered, 0.08 %) on their own, and never for the other kind", () => {
    let state = initialAlertState();
    const step = (delivered: number, complained: number) => {
      const result = evaluateAlerts(state, { ...zeroCounts(), sent: delivered, delivered, complained }, settings, 0);
      state = result.state;
      return result.fired.map((alert) => `${alert.kind}#${alert.crossing}`);
    };
    expect(step(99, 1)).toEqual([]); // 1 % but fewer than 100 delivered
    expect(step(1300, 1)).toEqual([]); // 0.077 %: under the threshold
    expect(step(1250, 1)).toEqual(["complaintRate#1"]); // 0.08 %: crossed
    expect(step(2000, 2)).toEqual([]); // 0.1 %: still above, fired already
    expect(step(2000, 1)).toEqual([]); // 0.05 %: below 80 % of it, re-armed
    expect(step(2000, 2)).toEqual(["complaintRate#2"]);
    expect(state.hardBounceRate).toEqual({ armed: true, crossings: 0 });
  });
});

describe("rates", () => {
  it("divide as DESIGN.md says, 0 when the denominator is 0", () => {
    const rates = ratesOf({ ...zeroCounts(), sent: 10, delivered: 8, uniqueOpens: 4, uniqueClicks: 2, humanUniqueClicks: 1, hardBounced: 1, softBounced: 2, complained: 1, unsubscribed: 2 });
    expect(rates).toEqual({ deliveryRate: 0.8, openRate: 0.5, clickRate: 0.25, clickToOpenRate: 0.5, bounceRate: 0.1, softBounceRate: 0.2, complaintRate: 0.125, unsubscribeRate: 0.25, humanClickRate: 0.125 });
    expect(ratesOf(zeroCounts()).deliveryRate).toBe(0);
    expect(ratesOf({ ...zeroCounts(), sent: 1, unsubscribed: 1 }).unsubscribeRate).toBe(0);
  });
});

describe("change notification subjects", () => {
  it("name the campaign, whatever its characters, under the workspace's wildcard", () => {
    for (const campaignId of ["spring", "summer:sale", "a.b c/ä", ""]) {
      const subject = liveSubject("ws_1", campaignId);
      expect(subject.startsWith(liveSubjectsOf("ws_1").slice(0, -1))).toBe(true);
      expect(subject.split(".")).toHaveLength(4); // one token per campaign: the wildcard matches it
      expect(campaignOfLiveSubject(subject)).toBe(campaignId);
    }
  });
});
