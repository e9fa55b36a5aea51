import { describe, expect, it } from "vitest";
import { ApplyRounds } from "./apply-rounds.ts";

/** Each input is a list of numbers; a round's result is every number it applied. */
function rounds({ failOn = -1, hangFirst = false, maxRoundSize = 100, maxWaitMs = 5_000 } = {}) {
  const applied: number[][] = [];
  const gates: (() => void)[] = [];
  let calls = 0;
  const applier = new ApplyRounds<number[], number[]>({
    applyTogether: async (inputs) => {
      const round = inputs.flat();
      calls++;
      if (hangFirst && calls === 1) await new Promise<void>(() => undefined);
      await new Promise<void>((resolve) => gates.push(resolve));
      if (round.includes(failOn)) throw new Error(`bad ${failOn}`);
      applied.push(round);
      return round;
    },
    shareOf: (result, input) => result.filter((n) => input.includes(n)),
    sizeOf: (input) => input.length,
    maxRoundSize,
    maxWaitMs,
  });
  /** Lets the rounds waiting on the database go on, one turn at a time, until `done` settles. */
  const run = async <T,>(done: Promise<T>) => {
    let settled = false;
    void done.finally(() => (settled = true)).catch(() => undefined);
    for (let turn = 0; turn < 100 && !settled; turn++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      gates.splice(0).forEach((open) => open());
    }
    return done;
  };
  return { applier, applied, run };
}

describe("ApplyRounds", () => {
  it("applies the calls made while a round is under way together in the next, each getting its own share", async () => {
    const { applier, applied, run } = rounds();
    const first = applier.apply([1]);
    const later = [applier.apply([2, 3]), applier.apply([4]), applier.apply([5, 6])];
    const results = await run(Promise.all([first, ...later]));
    expect(applied).toEqual([[1], [2, 3, 4, 5, 6]]);
    expect(results).toEqual([[1], [2, 3], [4], [5, 6]]);
  });

  it("keeps a round within its size, taking a larger input alone", async () => {
    const { applier, applied, run } = rounds({ maxRoundSize: 3 });
    const first = applier.apply([0]);
    const waiting = [applier.apply([1, 2]), applier.apply([3]), applier.apply([4, 5, 6, 7]), applier.apply([8])];
    await run(Promise.all([first, ...waiting]));
    expect(applied).toEqual([[0], [1, 2, 3], [4, 5, 6, 7], [8]]);
  });

  it("redoes a failed round for each caller alone, so only the bad input's caller fails", async () => {
    const { applier, applied, run } = rounds({ failOn: 3 });
    const first = applier.apply([1]);
    const waiting = [applier.apply([2]), applier.apply([3]), applier.apply([4])];
    const outcomes = await run(Promise.allSettled([first, ...waiting]));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    expect(applied).toEqual([[1], [2], [4]]);
  });

  it("starts the next round beside one that has not settled after maxWaitMs", async () => {
    const { applier, applied, run } = rounds({ hangFirst: true, maxWaitMs: 20 });
    const stuck = applier.apply([1]);
    const next = applier.apply([2]);
    expect(await run(next)).toEqual([2]);
    expect(applied).toEqual([[2]]);
    void stuck;
  });
});
