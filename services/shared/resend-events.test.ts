import { describe, expect, it } from "vitest";
import { eventSubject, isHardBounce, isMessageLevelBounce, parseResendTime, parseTags } from "./resend-events.ts";

describe("Resend event parsing", () => {
  it("builds subjects that are safe and bounded whatever the event type", () => {
    expect(eventSubject("ws_1", "email.delivered")).toBe("resend.events.ws_1.email.delivered");
    expect(eventSubject("ws_1", "Email.Something New!")).toBe("resend.events.ws_1.email.something_new_");
    expect(eventSubject("ws_1", "a..b.")).toBe("resend.events.ws_1.a.b_");
    expect(eventSubject("ws_1", "x".repeat(200)).length).toBe("resend.events.ws_1.".length + 64);
    expect(eventSubject("ws_1", "*>")).toBe("resend.events.ws_1.__");
  });

  it("reads timestamps written with Z or +00:00 and up to six fractional digits, to the microsecond", () => {
    const a = parseResendTime("2026-11-26T10:00:00.123456Z")!;
    const b = parseResendTime("2026-11-26T10:00:00.123456+00:00")!;
    const c = parseResendTime("2026-11-26T12:00:00.123456+02:00")!;
    expect([a.seconds, a.nanos]).toEqual([b.seconds, b.nanos]);
    expect([c.seconds, c.nanos]).toEqual([a.seconds, 123_456_000]);
    expect(parseResendTime("yesterday")).toBeUndefined();
    expect(parseResendTime(42)).toBeUndefined();
  });

  it("accepts tags as an object or as an array of {name, value}, ignoring malformed entries", () => {
    expect(parseTags({ campaign_id: "c1", n: 3 })).toEqual({ campaign_id: "c1", n: "3" });
    expect(parseTags([{ name: "campaign_id", value: "c1" }, { name: "" }, "x", { value: "v" }])).toEqual({ campaign_id: "c1" });
    expect(parseTags("nope")).toEqual({});
  });

  it("tells hard bounces (Permanent) from soft ones (Transient, Temporary, Undetermined) and message-level subtypes", () => {
    expect(["Permanent", "permanent"].map((type) => isHardBounce({ type }))).toEqual([true, true]);
    expect(["Transient", "Temporary", "Undetermined", ""].map((type) => isHardBounce({ type }))).toEqual([false, false, false, false]);
    expect(["MessageTooLarge", "ContentRejected", "AttachmentRejected"].every((subType) => isMessageLevelBounce({ subType }))).toBe(true);
    expect(["General", "MailboxFull", "NoEmail", "Suppressed", "OnAccountSuppressionList"].some((subType) => isMessageLevelBounce({ subType }))).toBe(false);
  });
});
