import { describe, expect, it } from "vitest";
import type { TimelineEntry } from "../sends-repository.ts";
import { addressScrub, anyAddressScrub, erasedDetail, erasedFact } from "./personal-data.ts";

const click: TimelineEntry = {
  workspaceId: "ws",
  emailId: "e1",
  svixId: "msg_1",
  type: "email.clicked",
  eventAtUs: 1,
  receivedAtUs: 2,
  click: { link: "https://shop.example/u?e=Ann.Lee%40example.com&x=1", ipAddress: "203.0.113.7", userAgent: "AnnBrowser/1.0", timestampUs: 3 },
};

describe("taking a subscriber's personal data out of a send", () => {
  it("replaces an erased address in any letter case, also percent-encoded, and leaves other text alone", () => {
    const scrub = addressScrub(["Ann.Lee@example.com"]);
    expect(scrub("550 <ANN.LEE@EXAMPLE.COM> and ann.lee@example.com, not bob@example.com")).toBe("550 <[erased]> and [erased], not bob@example.com");
    expect(scrub(click.click!.link)).toBe("https://shop.example/u?e=[erased]&x=1");
  });

  it("replaces anything like an address for an event of an already erased send, keeping a link's path", () => {
    expect(anyAddressScrub("https://shop.example/u?e=someone%40example.org&x=1")).toBe("https://shop.example/u?e=[erased]&x=1");
    expect(anyAddressScrub("550 5.1.1 <Jörg.Ü@exämple.de>: unknown")).toBe("550 5.1.1 <[erased]>: unknown");
  });

  it("clears a click's IP address and user agent, and finds nothing left the second time", () => {
    const scrub = addressScrub(["Ann.Lee@example.com"]);
    const detail = erasedDetail(click, scrub);
    expect(detail).toEqual({ click: { link: "https://shop.example/u?e=[erased]&x=1", ipAddress: "", userAgent: "", timestampUs: 3 } });
    expect(erasedDetail({ ...click, ...detail }, scrub)).toBeUndefined();
  });

  it("drops a fact's copies of recipient and subscriber id and keeps its kind, time and campaign", () => {
    const fact = erasedFact({ svixId: "m", kind: "failed", atUs: 5, failureReason: "ann.lee@example.com rejected", campaignTag: "c1", subscriberTag: "s1", soleRecipient: "ann.lee@example.com" }, addressScrub(["ann.lee@example.com"]));
    expect(fact).toEqual({ svixId: "m", kind: "failed", atUs: 5, failureReason: "[erased] rejected", campaignTag: "c1" });
  });
});
