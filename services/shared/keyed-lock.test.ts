import { describe, expect, it } from "vitest";
import { KeyedLock } from "./keyed-lock.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

/** Work that notes in `log` when it begins ("name>") and ends ("<name"). */
const logged = (log: string[]) => (name: string) => async () => {
  log.push(`${name}>`);
  await tick();
  log.push(`<${name}`);
};

describe("the per-key lock", () => {
  it("runs work of one key one after another and of other keys alongside", async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const work = logged(log);
    await Promise.all([lock.run("a", work("a1")), lock.run("a", work("a2")), lock.run("b", work("b1"))]);
    expect(log.indexOf("<a1")).toBeLessThan(log.indexOf("a2>"));
    expect(log.indexOf("b1>")).toBeLessThan(log.indexOf("<a1"));
  });

  it("holds every key of runAll at once, and two runAll of the same keys in opposite orders both finish", async () => {
    const lock = new KeyedLock();
    let holders = 0;
    let most = 0;
    const exclusive = async () => {
      holders++;
      most = Math.max(most, holders);
      await tick();
      holders--;
    };
    // Taken in the order given, these two would each hold one key and wait for the other forever.
    await Promise.all([lock.runAll(["x", "y", "z"], exclusive), lock.runAll(["z", "y", "x"], exclusive), lock.run("y", exclusive)]);
    expect(most).toBe(1);
  });

  it("holds a key no longer than maxWaitMs for work that never settles, and keeps the order of those after it", async () => {
    const lock = new KeyedLock({ maxWaitMs: 50 });
    void lock.run("a", () => new Promise<never>(() => undefined)); // a database call that never answers
    const log: string[] = [];
    const work = logged(log);
    await Promise.all([lock.run("a", work("a1")), lock.run("a", work("a2")), lock.run("a", work("a3"))]);
    expect(log).toEqual(["a1>", "<a1", "a2>", "<a2", "a3>", "<a3"]);
  });
});
