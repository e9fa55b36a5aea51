import { describe, expect, it } from "vitest";
import { countsOf } from "../counts.ts";
import { evaluateLimits, limitAlertMessageId, type LimitState } from "./bulk-sender-limits.ts";
import type { ProviderCounts } from "./provider-counts.ts";

const limits = { warning: 0.001, critical: 0.003, minDelivered: 1000 };
const at = (delivered: number, complained: number) => ({ ...countsOf(undefined), delivered, complained });
const day = Date.UTC(2026, 11, 1);

/** Folds a day's successive counts at Gmail through the rule; returns what fired, as [level, crossing, complained]. */
function run(steps: [delivered: number, complained: number][], start: LimitState = {}) {
  let state = start;
  const fired: [string, number, number][] = [];
  for (const [delivered, complained] of steps) {
    const result = evaluateLimits(state, { gmail: at(delivered, complained) }, limits, day, 0);
    state = result.state;
    fired.push(...result.fired.map((alert) => [alert.level, alert.crossing, alert.complained] as [string, number, number]));
  }
  return { state, fired };
}

describe("the bulk-sender limits of a day at one provider", () => {
  it("wait for the minimum delivered, then fire each level once per crossing", () => {
    expect(run([[999, 3]]).fired).toEqual([]); // 0.3 % but under 1,000 delivered
    expect(run([[999, 3], [1000, 3]]).fired).toEqual([["warning", 1, 3], ["critical", 1, 3]]); // both at once
    expect(run([[2000, 2], [2000, 3], [2100, 4]]).fired).toEqual([["warning", 1, 2]]); // 0.1 %, then still above: once
    expect(run([[2000, 5], [2000, 6]]).fired).toEqual([["warning", 1, 5], ["critical", 1, 6]]);
  });

  it("re-arm a level only below 80 % of its limit, and count the next crossing", () => {
    // 0.1 % fires; down to 0.085 % (above 0.08 %) does not re-arm, so 0.1 % again fires nothing ...
    expect(run([[2000, 2], [20_000, 17], [20_000, 20]]).fired).toEqual([["warning", 1, 2]]);
    // ... down to 0.075 % does, and 0.1 % again is crossing 2.
    expect(run([[2000, 2], [20_000, 15], [20_000, 20]]).fired).toEqual([["warning", 1, 2], ["warning", 2, 20]]);
  });

  it("keep each provider apart: Gmail can cross while Outlook is fine", () => {
    const byProvider: ProviderCounts = { gmail: at(1000, 2), microsoft: at(5000, 1), other: at(10, 10) };
    const { state, fired } = evaluateLimits({}, byProvider, limits, day, 7);
    expect(fired.map((alert) => [alert.provider, alert.level, alert.rate, alert.threshold, alert.delivered, alert.day, alert.at])).toEqual([["gmail", "warning", 0.002, 0.001, 1000, day, 7]]);
    expect(state.microsoft).toEqual({ warning: { armed: true, crossings: 0 }, critical: { armed: true, crossings: 0 } });
    expect(state.gmail!.warning).toEqual({ armed: false, crossings: 1 });
  });

  it("carry a crossing's identity in its message id", () => {
    expect(limitAlertMessageId("ws_1", { day, provider: "gmail", level: "critical", crossing: 2 })).toBe(`ws_1:deliverability:${day}:gmail:critical:2`);
  });
});
