import { describe, expect, it } from "vitest";
import { createLogger, maskAddresses } from "./log.ts";

describe("the JSON logger", () => {
  it("drops fields named like secrets or payloads", () => {
    const lines: string[] = [];
    createLogger({}, "info", (line) => lines.push(line)).info("x", { secret: "s", authorization: "Bearer t", body: "{}", kept: 1 });
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: "x", kept: 1 });
    expect(lines[0]).not.toMatch(/Bearer|"secret"|"body"/);
  });

  it("masks addresses that errors and strings quote, as a dead letter's reason or a duplicate key error does", () => {
    const lines: string[] = [];
    const log = createLogger({}, "info", (line) => lines.push(line));
    const duplicate = new Error('E11000 duplicate key error collection: suppression_subscribers index: _id_ dup key: { _id: "ws1:ann.lee+news@example.com" }');
    log.error("message dead-lettered", { reason: "TypeError: bad recipient bob@example.org (failed 10 of 10 attempts)", error: duplicate, count: 2 });
    expect(lines[0]).not.toMatch(/ann\.lee|bob@|example\.(com|org)/);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      reason: "TypeError: bad recipient <address> (failed 10 of 10 attempts)",
      error: { name: "Error", message: expect.stringContaining('dup key: { _id: "ws1:<address>" }') },
      count: 2,
    });
    expect(maskAddresses("no address here, just a@b")).toBe("no address here, just a@b");
  });

  it("masks addresses nested in objects and arrays, and in the message", () => {
    const lines: string[] = [];
    const log = createLogger({}, "debug", (line) => lines.push(line));
    log.debug("applied to cy@example.net", { detail: { to: ["ann@example.com", "Bob <bob@example.org>"], n: 2 } });
    expect(lines[0]).not.toMatch(/ann@|bob@|cy@/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: "applied to <address>", detail: { to: ["<address>", "Bob <<address>>"], n: 2 } });
  });
});
