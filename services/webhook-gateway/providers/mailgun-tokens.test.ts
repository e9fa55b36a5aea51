import { describe, expect, it } from "vitest";
import { createInMemoryTokenMemory } from "./mailgun-tokens.ts";

const nowMs = Date.UTC(2026, 10, 27, 12, 0, 0);
const hour = 60 * 60 * 1000;
const binding = (scope: string, token: string, eventId: string, at = nowMs) => ({ scope, token, eventId, nowMs: at, expiresAtMs: at + hour });

describe("in-memory Mailgun token memory", () => {
  it("answers the event id a token was first bound to, whatever event comes with it later", async () => {
    const tokens = createInMemoryTokenMemory();
    expect(await tokens.bind(binding("key-a", "t1", "e1"))).toBe("e1");
    expect(await tokens.bind(binding("key-a", "t1", "e1"))).toBe("e1");
    expect(await tokens.bind(binding("key-a", "t1", "e2"))).toBe("e1");
    expect(tokens.size()).toBe(1);
  });

  it("keeps scopes apart: the same token under another key is a binding of its own", async () => {
    const tokens = createInMemoryTokenMemory();
    expect(await tokens.bind(binding("key-a", "t1", "e1"))).toBe("e1");
    expect(await tokens.bind(binding("key-b", "t1", "e2"))).toBe("e2");
    expect(await tokens.bind(binding("key-a", "t1", "e2"))).toBe("e1");
  });

  it("forgets a binding once it has expired", async () => {
    const tokens = createInMemoryTokenMemory();
    await tokens.bind(binding("key-a", "t1", "e1"));
    expect(await tokens.bind(binding("key-a", "t1", "e2", nowMs + hour - 1))).toBe("e1");
    expect(await tokens.bind(binding("key-a", "t1", "e2", nowMs + hour))).toBe("e2");
    await tokens.bind(binding("key-a", "t2", "e3", nowMs + 3 * hour));
    expect(tokens.size()).toBe(1);
  });

  it("forgets an expired binding even when a longer-lived one was bound before it", async () => {
    const tokens = createInMemoryTokenMemory();
    // A late retry carries an older signed timestamp, so its binding expires before earlier ones.
    await tokens.bind({ scope: "key-a", token: "fresh", eventId: "e1", nowMs, expiresAtMs: nowMs + 2 * hour });
    await tokens.bind({ scope: "key-a", token: "late", eventId: "e2", nowMs, expiresAtMs: nowMs + hour });
    expect(await tokens.bind(binding("key-a", "late", "e3", nowMs + hour))).toBe("e3");
    expect(await tokens.bind(binding("key-a", "fresh", "e4", nowMs + hour))).toBe("e1");
  });

  it("keeps at most perScope bindings per key, forgetting that key's oldest first", async () => {
    const tokens = createInMemoryTokenMemory({ perScope: 3 });
    for (let i = 0; i < 5; i++) await tokens.bind(binding("key-a", `t${i}`, `e${i}`));
    await tokens.bind(binding("key-b", "t0", "b0"));
    expect(tokens.size()).toBe(4);
    expect(await tokens.bind(binding("key-a", "t4", "other"))).toBe("e4");
    expect(await tokens.bind(binding("key-a", "t0", "other"))).toBe("other");
    expect(await tokens.bind(binding("key-b", "t0", "other"))).toBe("b0");
  });

  it("keeps at most `total` bindings, taking them from the key used least recently", async () => {
    const tokens = createInMemoryTokenMemory({ perScope: 10, total: 4 });
    await tokens.bind(binding("quiet", "q0", "q0"));
    await tokens.bind(binding("quiet", "q1", "q1"));
    for (let i = 0; i < 4; i++) await tokens.bind(binding("busy", `b${i}`, `b${i}`));
    expect(tokens.size()).toBe(4);
    // The quiet key's bindings went first; the busy key's four remain.
    expect(await tokens.bind(binding("busy", "b0", "other"))).toBe("b0");
    expect(await tokens.bind(binding("quiet", "q0", "other"))).toBe("other");
    expect(tokens.size()).toBe(4);
  });

  it("orders keys by last use, not by first use, when it must forget", async () => {
    const tokens = createInMemoryTokenMemory({ perScope: 10, total: 4 });
    await tokens.bind(binding("a", "a0", "a0"));
    await tokens.bind(binding("b", "b0", "b0"));
    await tokens.bind(binding("a", "a1", "a1"));
    await tokens.bind(binding("c", "c0", "c0"));
    await tokens.bind(binding("c", "c1", "c1"));
    // "b" was used least recently, though "a" was first.
    expect(await tokens.bind(binding("a", "a0", "other"))).toBe("a0");
    expect(await tokens.bind(binding("b", "b0", "other"))).toBe("other");
  });

  it("refuses bounds below one", () => {
    expect(() => createInMemoryTokenMemory({ perScope: 0 })).toThrow();
    expect(() => createInMemoryTokenMemory({ total: 0 })).toThrow();
  });
});
