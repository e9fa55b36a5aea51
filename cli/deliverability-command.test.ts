import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { MailboxProvider } from "../gen/ngsreach/events/v1/mailbox_provider_pb.ts";
import { DeliverabilityDaySchema, ProviderDeliverabilitySchema } from "../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { deliverabilityTable, limitMark } from "./deliverability-command.ts";

describe("the deliverability table", () => {
  it("marks complaint rates at the bulk-sender limits: 0.1 % warning, 0.3 % critical", () => {
    expect([limitMark(0.00099), limitMark(0.001), limitMark(0.0029), limitMark(0.003)]).toEqual(["", "warning (>= 0.1 %)", "warning (>= 0.1 %)", "CRITICAL (>= 0.3 %)"]);
  });

  it("gives each day and provider a row, in the order given", () => {
    const provider = (value: MailboxProvider, delivered: number, complained: number) =>
      create(ProviderDeliverabilitySchema, { provider: value, sent: BigInt(delivered), delivered: BigInt(delivered), complained: BigInt(complained), complaintRate: complained / delivered });
    const lines = deliverabilityTable("ws_1", [
      create(DeliverabilityDaySchema, { dayStartTime: timestampFromMs(Date.UTC(2026, 11, 1)), providers: [provider(MailboxProvider.GMAIL, 2000, 7), provider(MailboxProvider.MICROSOFT, 4000, 1)] }),
      create(DeliverabilityDaySchema, { dayStartTime: timestampFromMs(Date.UTC(2026, 11, 2)) }),
    ]);
    expect(lines[0]).toContain("0.1 % warning, 0.3 % critical");
    expect(lines.slice(2)).toEqual([
      expect.stringMatching(/^2026-12-01 {2}gmail\s+2000\s+2000\s+0\s+0\s+7\s+0\.35 %\s+0\.0 % {2}CRITICAL \(>= 0\.3 %\)$/),
      expect.stringMatching(/^2026-12-01 {2}microsoft\s+4000\s+4000\s+0\s+0\s+1\s+0\.025 %\s+0\.0 %$/),
      expect.stringMatching(/^2026-12-02 {2}-\s+0\s+0\s+0\s+0\s+0$/),
    ]);
  });
});
