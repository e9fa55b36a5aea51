/** The per-provider breakdown rides in the campaign part: exact deltas, any order, the record's provider first. */
import { describe, expect, it } from "vitest";
import { countsOf } from "../counts.ts";
import { fieldsAfterParts } from "../part-fields.ts";
import { defaultAlertSettings } from "../alerts.ts";
import { applyFact, applyRecord, atProviders, contributionDelta, contributionOf, emptySendState, withEventProvider, type SendState } from "../send-state.ts";
import { addProviderFields, providerCountsOf, providersWithCounts } from "./provider-counts.ts";

const rules = { scannerWindowMs: 10_000 };
/** The send's campaign part with its provider's counts spelled out, as its deltas carry them. */
const campaignPart = (state: SendState) => atProviders(contributionOf(state, rules).find((part) => part.kind === "campaign")!);

describe("a send's counts at its recipient's provider", () => {
  it("are the send's totals under the provider, and under other while the provider is not known", () => {
    const delivered = applyFact(applyRecord(emptySendState(), "c1", 0), { kind: "delivered", t: 1000 });
    expect(campaignPart(delivered).inc).toEqual({ sent: 1, delivered: 1, "other:sent": 1, "other:delivered": 1 });
    const atGmail = withEventProvider(delivered, "gmail");
    expect(campaignPart(atGmail).inc).toEqual({ sent: 1, delivered: 1, "gmail:sent": 1, "gmail:delivered": 1 });
    // Learning the provider moves the send's counts, and leaves the campaign's totals alone.
    const [delta] = contributionDelta(contributionOf(delivered, rules), contributionOf(atGmail, rules));
    expect(delta!.inc).toEqual({ "other:sent": -1, "other:delivered": -1, "gmail:sent": 1, "gmail:delivered": 1 });
  });

  it("are stored compact on the send: the provider named once, the copies only in deltas", () => {
    const state = withEventProvider(applyFact(applyRecord(emptySendState(), "c1", 0), { kind: "delivered", t: 1000 }), "yahoo");
    const stored = contributionOf(state, rules).filter((part) => part.kind === "campaign" || part.kind === "day");
    expect(stored.map((part) => [part.kind, (part as { provider?: string }).provider, Object.keys(part.inc).some((field) => field.includes(":"))])).toEqual([
      ["campaign", "yahoo", false],
      ["day", "yahoo", false],
    ]);
    const delta = contributionDelta([], contributionOf(state, rules));
    expect(delta.find((part) => part.kind === "day")!.inc).toEqual({ "yahoo:sent": 1, "yahoo:delivered": 1 });
  });

  it("take the registration's provider over an event's, whichever came first", () => {
    const eventFirst = applyRecord(withEventProvider(emptySendState(), "yahoo"), "c1", 0, "microsoft");
    const recordFirst = withEventProvider(applyRecord(emptySendState(), "c1", 0, "microsoft"), "yahoo");
    expect(eventFirst.recipientProvider).toEqual({ provider: "microsoft", by: "record" });
    expect(recordFirst.recipientProvider).toEqual(eventFirst.recipientProvider);
    // The first event's provider stays when no registration names one.
    expect(withEventProvider(withEventProvider(emptySendState(), "apple"), "gmail").recipientProvider?.provider).toBe("apple");
  });

  it("reach the campaign document's byProvider with the totals, once per delta", () => {
    const state = withEventProvider(applyFact(applyRecord(emptySendState(), "c1", 0), { kind: "complained", t: 5 }), "gmail");
    const part = campaignPart(state);
    const first = fieldsAfterParts(null, "ws", [{ workspaceId: "ws", ref: "e1#1", part }], () => false, defaultAlertSettings, 0)!;
    expect(providerCountsOf(first.byProvider).gmail).toEqual({ ...countsOf(undefined), sent: 1, complained: 1 });
    // The same delta again (a redelivery) is in `recent`: nothing changes.
    expect(fieldsAfterParts({ ...first, _id: "x" }, "ws", [{ workspaceId: "ws", ref: "e1#1", part }], () => false, defaultAlertSettings, 0)).toBeNull();
  });

  it("list only providers with counts, in report order, and ignore fields that are not provider counts", () => {
    const byProvider = addProviderFields({}, { "yahoo:sent": 2, "gmail:sent": 1, sent: 3, "nobody:sent": 4, "gmail:madeUp": 1, "apple:sent": 0 });
    expect(providersWithCounts(byProvider).map(({ provider, counts }) => [provider, counts.sent])).toEqual([["gmail", 1], ["yahoo", 2]]);
    expect(providerCountsOf("not an object")).toEqual({});
  });
});
