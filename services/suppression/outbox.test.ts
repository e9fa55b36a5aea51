import { describe, expect, it } from "vitest";
import { addressOfMessageId, outboxEntry } from "./outbox.ts";
import { addManually, newSubscriber } from "./subscriber-state.ts";

describe("a subscriber event's message id", () => {
  it("names the document it changed, for addresses and pseudonyms alike, and nothing for another id", () => {
    for (const email of ["ann@example.com", "odd:v7@example.com", "erased:k1:AbC-_9"]) {
      const outcome = addManually(newSubscriber("ws_1", email, 1), { reason: "manual", subscriberId: "", actor: "ops", note: "", atMs: 1 });
      const entry = JSON.parse(outboxEntry({ ...outcome.state, version: 12 }, outcome.transition!)) as { msgId: string };
      expect(addressOfMessageId("ws_1", entry.msgId)).toBe(email);
    }
    expect(addressOfMessageId("ws_1", "ws_2:ann@example.com:v1")).toBeUndefined();
    expect(addressOfMessageId("ws_1", "ws_1:ann@example.com")).toBeUndefined();
    expect(addressOfMessageId("ws_1", "audit-entry-id")).toBeUndefined();
  });
});
