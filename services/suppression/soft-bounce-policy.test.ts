import { describe, expect, it } from "vitest";
import { currentStreak, defaultSoftBouncePolicy as policy, streakCompletedBy, type CountedBounce } from "./soft-bounce-policy.ts";

const day = 86_400_000;
const bounce = (d: number): CountedBounce => ({ atMs: d * day, svixId: `b${d}` });

describe("the soft-bounce policy", () => {
  it("suppresses on the third soft bounce within 30 days, naming it as the cause", () => {
    expect(streakCompletedBy({ bounces: [bounce(1), bounce(2)], deliveries: [], floorMs: 0 }, policy)).toBeUndefined();
    expect(streakCompletedBy({ bounces: [bounce(1), bounce(5), bounce(2)], deliveries: [], floorMs: 0 }, policy)?.svixId).toBe("b5");
  });

  it("does not suppress when the three bounces span more than 30 days", () => {
    expect(streakCompletedBy({ bounces: [bounce(1), bounce(20), bounce(40)], deliveries: [], floorMs: 0 }, policy)).toBeUndefined();
  });

  it("resets the streak at a delivery between the bounces, in event time", () => {
    const input = { bounces: [bounce(1), bounce(2), bounce(4)], deliveries: [3 * day], floorMs: 0 };
    expect(streakCompletedBy(input, policy)).toBeUndefined();
    expect(streakCompletedBy({ ...input, bounces: [...input.bounces, bounce(5)] }, policy)).toBeUndefined();
    expect(streakCompletedBy({ ...input, bounces: [...input.bounces, bounce(5), bounce(6)] }, policy)?.svixId).toBe("b6");
  });

  it("ignores deliveries when configured not to reset", () => {
    const input = { bounces: [bounce(1), bounce(2), bounce(4)], deliveries: [3 * day], floorMs: 0 };
    expect(streakCompletedBy(input, { ...policy, resetOnDelivery: false })?.svixId).toBe("b4");
  });

  it("does not count bounces at or before the floor (a manual removal)", () => {
    expect(streakCompletedBy({ bounces: [bounce(1), bounce(2), bounce(3)], deliveries: [], floorMs: 2 * day }, policy)).toBeUndefined();
  });

  it("lets only bounces at or after fromMs complete a streak (earlier ones are settled), still counting earlier ones in it", () => {
    const input = { bounces: [bounce(1), bounce(2), bounce(3), bounce(4)], deliveries: [], floorMs: 0 };
    expect(streakCompletedBy({ ...input, fromMs: 4 * day }, policy)?.svixId).toBe("b4");
    expect(streakCompletedBy({ ...input, fromMs: 5 * day }, policy)).toBeUndefined();
  });

  it("honours a configured limit", () => {
    expect(streakCompletedBy({ bounces: [bounce(1)], deliveries: [], floorMs: 0 }, { ...policy, limit: 1 })?.svixId).toBe("b1");
  });

  it("reports the open streak at a point in time", () => {
    const input = { bounces: [bounce(1), bounce(3), bounce(4)], deliveries: [2 * day], floorMs: 0 };
    expect(currentStreak(input, policy, 5 * day).map((b) => b.svixId)).toEqual(["b3", "b4"]);
    expect(currentStreak(input, policy, 40 * day)).toEqual([]);
  });
});
