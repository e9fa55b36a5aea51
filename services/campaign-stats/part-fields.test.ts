import { describe, expect, it } from "vitest";
import { defaultAlertSettings } from "./alerts.ts";
import { fieldsAfterParts } from "./part-fields.ts";

const campaign = (ref: string, delivered: number) => ({ workspaceId: "ws", ref, part: { kind: "campaign" as const, campaignId: "c", inc: { sent: 1, delivered } } });

describe("a document's fields after delta parts", () => {
  it("adds every part it has not applied, once, and keeps their refs until their sends confirm them", () => {
    const stored = { sent: 5, delivered: 4, recent: ["e1#1", "e2#1"] };
    const fields = fieldsAfterParts(stored, "ws", [campaign("e2#1", 1), campaign("e3#1", 1), campaign("e3#1", 1), campaign("e4#2", 0)], (ref) => ref === "e1#1", defaultAlertSettings, 1000)!;
    expect(fields).toMatchObject({ sent: 7, delivered: 5, recent: ["e2#1", "e3#1", "e4#2"], updatedAt: 1000 });
  });

  it("changes nothing when every part was applied before", () => {
    expect(fieldsAfterParts({ sent: 1, recent: ["e1#1"] }, "ws", [campaign("e1#1", 1)], () => false, defaultAlertSettings, 0)).toBeNull();
  });

  it("keeps a link's first and last click across the parts of a batch", () => {
    const link = (ref: string, at: number) => ({ workspaceId: "ws", ref, part: { kind: "link" as const, campaignId: "c", link: "https://x", inc: { clicks: 1, uniqueClicks: 1 }, firstClickAt: at, lastClickAt: at } });
    const fields = fieldsAfterParts({ clicks: 1, uniqueClicks: 1, firstClickAt: 50, lastClickAt: 50 }, "ws", [link("a#1", 70), link("b#1", 20)], () => false, defaultAlertSettings, 0)!;
    expect(fields).toMatchObject({ clicks: 3, uniqueClicks: 3, scannerClicks: 0, firstClickAt: 20, lastClickAt: 70 });
  });

  it("evaluates alerts once on the totals after the batch", () => {
    const settings = { ...defaultAlertSettings, minDelivered: 2 };
    const bounced = (ref: string) => ({ workspaceId: "ws", ref, part: { kind: "campaign" as const, campaignId: "c", inc: { sent: 1, delivered: 1, hardBounced: 1 } } });
    const fields = fieldsAfterParts(null, "ws", [bounced("a#1"), bounced("b#1"), bounced("c#1")], () => false, settings, 0)!;
    expect(fields.outbox).toHaveLength(1);
    expect(fields.outbox[0]).toMatchObject({ kind: "hardBounceRate", crossing: 1, count: 3, sent: 3 });
  });
});
