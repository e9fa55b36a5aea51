/**
 * Bulk-sender limit events end to end, against real NATS and FerretDB: one DeliverabilityAlert per
 * crossing of a workspace-day's complaint rate at one provider, re-armed below 80 % of the limit, across a
 * crash between the write and the publish and a restart; another provider's numbers stay apart.
 */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { beforeAll, describe, expect, it } from "vitest";
import { DeliverabilityAlertSchema, DeliverabilityLevel, type DeliverabilityAlert } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { MailboxProvider } from "../../../gen/ngsreach/events/v1/mailbox_provider_pb.ts";
import { CampaignStatsService } from "../../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../../test/harness.ts";
import { publishMessage, workloadBase, type WorkloadMessage } from "../../../test/support/campaign-stats-workload.ts";
import { messagesOn } from "../../../test/support/stream-messages.ts";
import type { BaseConfig } from "../../shared/config.ts";
import { DOMAIN_EVENTS_STREAM } from "../../shared/nats.ts";
import { startService, type RunningService } from "../../shared/service-host.ts";
import { campaignStatsService, loadCampaignStatsSettings } from "../service.ts";
import { dayOf } from "../send-state.ts";
import { limitAlertSubject } from "./limit-alert-event.ts";

let config: BaseConfig;
beforeAll(async () => {
  const nats = await privateNats();
  config = testBaseConfig({ natsUrl: nats.url });
});

/** How many DeliverabilityAlerts the workspace has on the stream (no consumer: polled often). */
async function alertCount(service: RunningService, workspaceId: string): Promise<number> {
  const info = await service.context.nats.jsm.streams.info(DOMAIN_EVENTS_STREAM, { subjects_filter: limitAlertSubject(workspaceId) });
  return info.state.subjects?.[limitAlertSubject(workspaceId)] ?? 0;
}

/** Every DeliverabilityAlert the workspace has on the stream, in order. */
const alertsOf = (service: RunningService, workspaceId: string): Promise<DeliverabilityAlert[]> =>
  messagesOn(service.context.nats.js, DOMAIN_EVENTS_STREAM, limitAlertSubject(workspaceId), DeliverabilityAlertSchema);

describe("bulk-sender limit events", () => {
  it("publish one event per crossing of a day's complaint rate at a provider, re-armed below 80 %, across a crash and a restart", async () => {
    const workspaceId = uniqueName("ws");
    // Limits scaled to a small workload: warning 5 %, critical 20 %, from 20 delivered.
    const limits = { warning: 0.05, critical: 0.2, minDelivered: 20 };
    let crashNextDayWrite = false;
    const crashPoint = (label: string) => {
      if (crashNextDayWrite && label === "after-apply-day") {
        crashNextDayWrite = false;
        throw new Error("simulated crash between the crossing's write and its publish");
      }
    };
    const start = () => startService(campaignStatsService({ ...loadCampaignStatsSettings({}), port: 0, consumerAckWaitMs: 2000, limits, crashPoint }), config);
    let service = await start();
    let svix = 0;
    const publish = (message: WorkloadMessage, domain: string) => publishMessage(service.context.nats.js, workspaceId, { ...message, domain });
    const event = (emailId: string, type: string): WorkloadMessage => ({ kind: "event", svixId: `msg_lim_${svix++}`, type, emailId, at: workloadBase + svix * 1000, tags: {} });
    let sends = 0;
    const delivered = async (count: number, domain: string) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const emailId = `em-${sends++}`;
        ids.push(emailId);
        await publish({ kind: "record", emailId, campaignId: `c${sends % 3}`, sentAt: workloadBase }, domain);
        await publish(event(emailId, "email.delivered"), domain);
      }
      return ids;
    };
    const day = dayOf(workloadBase);
    const numbers = async (provider: MailboxProvider) => {
      const client = createClient(CampaignStatsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
      const { days } = await client.getWorkspaceDeliverability({ workspaceId, startTime: timestampFromMs(day), endTime: timestampFromMs(day + 1) });
      const entry = days[0]!.providers.find((candidate) => candidate.provider === provider);
      return [Number(entry?.delivered ?? 0), Number(entry?.complained ?? 0)];
    };
    const settled = (provider: MailboxProvider, want: [number, number]) =>
      waitFor(async () => JSON.stringify(await numbers(provider)) === JSON.stringify(want), { what: `delivered, complained = ${want}` });
    const complain = async (emailId: string, domain: string, want: [number, number]) => {
      await publish(event(emailId, "email.complained"), domain);
      await settled(MailboxProvider.GMAIL, want);
    };
    try {
      const gmail = await delivered(20, "gmail.com");
      const outlook = await delivered(25, "outlook.com");
      await settled(MailboxProvider.GMAIL, [20, 0]);
      // Outlook's 2 of 25 (8 %) cross its warning; Gmail is not touched by it.
      await publish(event(outlook[0]!, "email.complained"), "outlook.com");
      await publish(event(outlook[1]!, "email.complained"), "outlook.com");
      await settled(MailboxProvider.MICROSOFT, [25, 2]);
      crashNextDayWrite = true; // the write that crosses is followed by a crash, before the publish
      await complain(gmail[0]!, "gmail.com", [20, 1]); // 5 % -> Gmail warning, crossing 1
      await waitFor(async () => (await alertCount(service, workspaceId)) === 2, { what: "two crossings" });
      expect(crashNextDayWrite).toBe(false);

      await service.stop(); // a restart keeps the limit state
      service = await start();
      await complain(gmail[1]!, "gmail.com", [20, 2]); // 10 %: still above, nothing new
      gmail.push(...(await delivered(40, "gmail.com")));
      await settled(MailboxProvider.GMAIL, [60, 2]); // 3.3 % < 4 %: re-armed
      await complain(gmail[2]!, "gmail.com", [60, 3]); // 5 % -> warning, crossing 2
      for (let i = 3; i < 12; i++) await complain(gmail[i]!, "gmail.com", [60, i + 1]); // 12 of 60 = 20 % -> critical, crossing 1
      await waitFor(async () => (await alertCount(service, workspaceId)) === 4, { what: "four crossings" });
      await new Promise((resolve) => setTimeout(resolve, 500));

      const alerts = await alertsOf(service, workspaceId);
      expect(alerts.map((alert) => [alert.provider, alert.level, alert.crossing, Number(alert.complained), Number(alert.delivered)])).toEqual([
        [MailboxProvider.MICROSOFT, DeliverabilityLevel.WARNING, 1, 2, 25],
        [MailboxProvider.GMAIL, DeliverabilityLevel.WARNING, 1, 1, 20],
        [MailboxProvider.GMAIL, DeliverabilityLevel.WARNING, 2, 3, 60],
        [MailboxProvider.GMAIL, DeliverabilityLevel.CRITICAL, 1, 12, 60],
      ]);
      expect(alerts[1]!.complaintRate).toBeCloseTo(1 / 20, 12);
      expect([alerts[3]!.threshold, Number(alerts[3]!.dayStartTime!.seconds) * 1000]).toEqual([0.2, day]);
      expect(alerts.every((alert) => alert.workspaceId === workspaceId)).toBe(true);
    } finally {
      await service.stop();
    }
  });
});
