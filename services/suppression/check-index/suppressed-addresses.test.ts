import { describe, expect, it } from "vitest";
import { SuppressedAddresses } from "./suppressed-addresses.ts";

const bounced = { reason: "bounced" as const, atMs: Date.UTC(2026, 10, 30, 12, 0, 0, 123) };

describe("the check index's suppressed addresses", () => {
  it("answers each reason and time as stored, per workspace, and forgets an unsuppressed address", () => {
    const index = new SuppressedAddresses();
    const reasons = ["bounced", "complained", "suppressed_by_resend", "soft_bounce_policy", "manual", "unsubscribed", "erased"] as const;
    reasons.forEach((reason, i) => index.set("ws1", `a${i}@x.com`, { reason, atMs: bounced.atMs + i }));
    index.set("ws2", "a0@x.com", bounced);
    const all = reasons.map((_, i) => `a${i}@x.com`);
    const { found, fromDatabase } = index.answer("ws1", [...all, "none@x.com"]);
    expect(fromDatabase).toEqual([]);
    expect(reasons.map((_, i) => found.get(`a${i}@x.com`))).toEqual(reasons.map((reason, i) => ({ reason, atMs: bounced.atMs + i })));
    expect(found.has("none@x.com")).toBe(false);
    expect(index.size).toBe(8);
    index.set("ws1", "a0@x.com", null);
    index.set("ws1", "a0@x.com", null);
    expect(index.answer("ws1", ["a0@x.com"]).found.size).toBe(0);
    expect(index.answer("ws2", ["a0@x.com"]).found.get("a0@x.com")).toEqual(bounced);
    expect(index.size).toBe(7);
    expect(index.answer("ws3", ["a0@x.com"]).found.size).toBe(0);
  });

  it("finds an address under its pseudonym only when the workspace holds one, and hands erasing addresses to the database", () => {
    const index = new SuppressedAddresses();
    let hashed = 0;
    const pseudonymsOf = (address: string) => {
      hashed++;
      return [`erased:k1:${address.length}`];
    };
    index.set("ws", "kept@x.com", bounced);
    expect(index.answer("ws", ["kept@x.com", "other@x.com"], pseudonymsOf).found.size).toBe(1);
    expect(hashed).toBe(0);
    index.set("ws", "erased:k1:10", { reason: "erased", atMs: 5 });
    expect(index.answer("ws", ["gone@x.com", "kept@x.com"], pseudonymsOf).found.get("gone@x.com")).toEqual({ reason: "erased", atMs: 5 });
    expect(hashed).toBe(1);

    index.erasing("ws", ["kept@x.com"]);
    expect(index.answer("ws", ["kept@x.com"], pseudonymsOf)).toEqual({ found: new Map(), fromDatabase: ["kept@x.com"] });
    index.databaseOnly("ws");
    expect(index.answer("ws", ["a@x.com", "b@x.com"]).fromDatabase).toEqual(["a@x.com", "b@x.com"]);
  });
});
