import { BSON } from "mongodb";
import { describe, expect, it } from "vitest";
import { noneRetired, projectSend, type EventFact, type Registration } from "./send-projection.ts";
import { keptFactsLimit, planRetirement } from "./send-retirement.ts";

const us = (second: number) => 1_767_000_000_000_000 + second * 1_000_000;
const open = (i: number): EventFact => ({ svixId: `msg_${String(i).padStart(26, "0")}`, kind: "opened", atUs: us(100 + i) });
const registration: Registration = { campaignId: "campaign-1", subscriberId: "subscriber-1", recipient: "ann@example.com", sentAtUs: us(0), recordedAtUs: us(0) };

/** What a send document holds, as the fold keeps it: the facts, the retired counts and the state. */
function write(stored: { facts: EventFact[]; retired: typeof noneRetired }, added: EventFact[]) {
  const next = [...stored.facts, ...added];
  const retirement = planRetirement(stored.facts, next, stored.retired);
  const facts = retirement?.kept ?? next;
  const retired = retirement?.counts ?? stored.retired;
  return { facts, retired, state: projectSend(registration, facts, retired), retiredNow: retirement?.retired ?? [] };
}

describe("retiring a send's facts", () => {
  it("keeps a send opened 10,000 times as small, and as cheap to fold, after the first hundred opens as at the hundredth", () => {
    let send = write({ facts: [], retired: noneRetired }, [open(0)]);
    const bytes: number[] = [];
    const folded: number[] = [];
    for (let i = 1; i < 10_000; i++) {
      const next = write(send, [open(i)]);
      bytes.push(BSON.calculateObjectSize({ facts: next.facts, retired: next.retired, state: next.state }));
      folded.push(next.facts.length); // what the fold reads and the write rewrites
      send = next;
      expect(send.state.openCount).toBe(i + 1);
    }
    const atHundred = bytes[98]!;
    expect(Math.max(...bytes.slice(99))).toBeLessThanOrEqual(Math.max(...bytes.slice(0, 100)));
    expect(Math.max(...folded)).toBeLessThanOrEqual(keptFactsLimit + 1);
    expect(atHundred).toBeLessThan(16_000);
    expect(send.state).toMatchObject({ openCount: 10_000, firstOpenedAtUs: us(100), lastEventAtUs: us(100 + 9_999), status: "opened" });
  });

  it("retires only facts the stored document holds, never the ones the write being decided adds", () => {
    const stored = Array.from({ length: keptFactsLimit }, (_, i) => open(i));
    const added = [open(1000), open(1001)];
    const retirement = planRetirement(stored, [...stored, ...added], noneRetired)!;
    expect(retirement.retired.length).toBeGreaterThan(0);
    expect(retirement.retired.every((fact) => stored.includes(fact))).toBe(true);
    expect(retirement.kept).toEqual(expect.arrayContaining(added));
    expect(retirement.counts.opened).toBe(retirement.retired.length);
  });

  it("keeps the first unsubscribe time however many facts the send retires around it", () => {
    const unsubscribe = (i: number, second: number): EventFact => ({ svixId: `unsub_${i}`, kind: "unsubscribed", atUs: us(second) });
    // Unsubscribes among 300 opens, the earliest arriving last, so every earlier one may be retired by then.
    const history = [...Array.from({ length: 300 }, (_, i) => open(i)), unsubscribe(1, 250), unsubscribe(2, 150), unsubscribe(3, 300), unsubscribe(4, 90)];
    const arrivals = [...history.slice(0, 150), history[301]!, ...history.slice(150, 300), history[300]!, history[302]!, history[303]!];
    let send = write({ facts: [], retired: noneRetired }, []);
    for (const fact of arrivals) send = write(send, [fact]);
    expect(send.facts.length).toBeLessThanOrEqual(keptFactsLimit + 1);
    expect(send.state).toEqual(projectSend(registration, history));
    expect(send.state).toMatchObject({ unsubscribedAtUs: us(90), openCount: 300, status: "opened" });
  });

  it("keeps everything up to the limit", () => {
    const facts = Array.from({ length: keptFactsLimit }, (_, i) => open(i));
    expect(planRetirement(facts.slice(0, -1), facts, noneRetired)).toBeUndefined();
  });
});
