import { describe, expect, it } from "vitest";
import { createLogger } from "../../shared/log.ts";
import { throttledLog } from "./log-throttle.ts";

describe("warnings a client can cause per request", () => {
  it("are written once per key per interval, the next one saying how many were left out", () => {
    const lines: string[] = [];
    const clock = { now: 0 };
    const warn = throttledLog(createLogger({}, "debug", (line) => lines.push(line)), 10_000, () => clock.now);
    for (let i = 0; i < 1000; i++) warn("unavailable", "webhook not stored", { outcome: "unavailable" });
    warn("read_failed", "webhook body read failed", {});
    expect(lines).toHaveLength(2);
    clock.now = 10_000;
    warn("unavailable", "webhook not stored", { outcome: "unavailable" });
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[2]!)).toMatchObject({ msg: "webhook not stored", suppressedSinceLast: 999 });
  });
});
