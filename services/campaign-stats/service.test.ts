/**
 * The service end to end, against real NATS and FerretDB: health alerts once
 * per crossing (across a crash and a restart), the live watch, and the RPC
 * contract (validation, workspace isolation, unknown campaigns).
 */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CampaignAlertKind, CampaignAlertSchema, type CampaignAlert } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import type { BaseConfig } from "../shared/config.ts";
import { DOMAIN_EVENTS_STREAM } from "../shared/nats.ts";
import { eventIdOf, providerOfEmailId } from "../shared/providers.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { campaignStatsService, loadCampaignStatsSettings, type CampaignStatsSettings } from "./service.ts";
import { publishMessage, workloadBase, type WorkloadMessage } from "../../test/support/campaign-stats-workload.ts";
import { messagesOn } from "../../test/support/stream-messages.ts";

let config: BaseConfig;
beforeAll(async () => {
  const nats = await privateNats();
  config = testBaseConfig({ natsUrl: nats.url });
});

const settings = (extra: Partial<CampaignStatsSettings> = {}): CampaignStatsSettings => ({
  ...loadCampaignStatsSettings({}),
  port: 0,
  consumerAckWaitMs: 2000,
  ...extra,
});
const clientOf = (service: RunningService): Client<typeof CampaignStatsService> =>
  createClient(CampaignStatsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));

let svix = 0;
/** An event of the send's provider (the email id says which: "sendgrid:a" is SendGrid's, "a" Resend's). */
const event = (emailId: string, type: string, extra: Partial<WorkloadMessage & { kind: "event" }> = {}): WorkloadMessage => ({
  kind: "event",
  svixId: eventIdOf(providerOfEmailId(emailId), `msg_svc_${svix++}_${emailId.replace(":", "_")}`),
  type,
  emailId,
  at: workloadBase + svix * 1000,
  tags: {},
  ...extra,
});
const record = (emailId: string, campaignId: string): WorkloadMessage => ({ kind: "record", emailId, campaignId, sentAt: workloadBase });

const alertsOf = (service: RunningService, workspaceId: string): Promise<CampaignAlert[]> =>
  messagesOn(service.context.nats.js, DOMAIN_EVENTS_STREAM, `campaign.${workspaceId}.alert`, CampaignAlertSchema);

describe("campaign health alerts", () => {
  it("publish one alert per threshold crossing, re-arm below 80 % of it, and survive a crash and a restart", async () => {
    const workspaceId = uniqueName("ws");
    const campaignId = "launch";
    let crashNextCampaignWrite = false;
    const crashPoint = (label: string) => {
      if (crashNextCampaignWrite && label === "after-apply-campaign") {
        crashNextCampaignWrite = false;
        throw new Error("simulated crash between the alert write and its publish");
      }
    };
    const alertSettings = { hardBounceRate: 0.1, complaintRate: 0.02, minDelivered: 20 };
    let service = await startService(campaignStatsService(settings({ alerts: alertSettings, crashPoint })), config);
    const stats = async () => (await clientOf(service).getCampaignStats({ workspaceId, campaignId })).stats!;
    let sends = 0;
    const deliveredSends = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const emailId = `ok-${sends++}`;
        await publishMessage(service.context.nats.js, workspaceId, record(emailId, campaignId));
        await publishMessage(service.context.nats.js, workspaceId, event(emailId, "email.delivered"));
      }
    };
    const bouncedSend = async (beforeBounce = () => {}) => {
      const emailId = `bounce-${sends++}`;
      await publishMessage(service.context.nats.js, workspaceId, record(emailId, campaignId));
      await waitFor(async () => Number((await stats()).sent) === sends, { what: "sent" });
      beforeBounce();
      await publishMessage(service.context.nats.js, workspaceId, event(emailId, "email.bounced", { bounce: { type: "Permanent", subType: "General" } }));
    };
    const settled = (sent: number, hardBounced: number) =>
      waitFor(async () => {
        const current = await stats();
        return Number(current.sent) === sent && Number(current.hardBounced) === hardBounced;
      }, { what: `sent ${sent}, hard bounced ${hardBounced}` });
    try {
      await deliveredSends(20);
      await bouncedSend();
      await bouncedSend();
      await settled(22, 2); // 9.1 % < 10 %
      expect(await alertsOf(service, workspaceId)).toHaveLength(0);

      // The write that fires the alert is followed by a crash, before the publish.
      await bouncedSend(() => (crashNextCampaignWrite = true)); // 3/23 = 13 % -> crossing 1
      await settled(23, 3);
      await waitFor(async () => (await alertsOf(service, workspaceId)).length === 1, { what: "first alert" });
      expect(crashNextCampaignWrite).toBe(false);
      await bouncedSend(); // 4/24: still above, no new alert
      await settled(24, 4);

      await service.stop(); // a restart keeps the alert state
      service = await startService(campaignStatsService(settings({ alerts: alertSettings, crashPoint })), config);
      await deliveredSends(27); // 4/51 = 7.8 % < 8 %: re-armed
      await settled(51, 4);
      await bouncedSend(); // 5/52 = 9.6 %: below the threshold
      await bouncedSend(); // 6/53 = 11.3 % -> crossing 2
      await settled(53, 6);
      await waitFor(async () => (await alertsOf(service, workspaceId)).length === 2, { what: "second alert" });

      const alerts = await alertsOf(service, workspaceId);
      expect(alerts.map((alert) => [alert.kind, Number(alert.count), Number(alert.sent)])).toEqual([
        [CampaignAlertKind.HARD_BOUNCE_RATE, 3, 23],
        [CampaignAlertKind.HARD_BOUNCE_RATE, 6, 53],
      ]);
      expect(alerts[0]!.rate).toBeCloseTo(3 / 23, 12);
      expect(alerts[0]!.threshold).toBe(0.1);
      expect(Number(alerts[0]!.delivered)).toBe(20);
      expect(alerts.every((alert) => alert.workspaceId === workspaceId && alert.campaignId === campaignId)).toBe(true);
    } finally {
      await service.stop();
    }
  });
});

describe("the CampaignStatsService API", () => {
  let service: RunningService;
  let client: Client<typeof CampaignStatsService>;
  beforeAll(async () => {
    service = await startService(campaignStatsService(settings()), config);
    client = clientOf(service);
  });
  afterAll(async () => service?.stop());

  it("watch sends a snapshot, then pushes a change as it happens, coalesced to one push per interval", async () => {
    const workspaceId = uniqueName("ws");
    const abort = new AbortController();
    const stream = client.watchCampaignStats({ workspaceId, campaignIds: ["live", "live"], minIntervalMs: 300 }, { signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(Number(first.value!.stats!.sent)).toBe(0);

    const publishedAt = Date.now();
    await publishMessage(service.context.nats.js, workspaceId, record("w-0", "live"));
    const pushed = await iterator.next();
    const latency = Date.now() - publishedAt;
    expect(Number(pushed.value!.stats!.sent)).toBe(1);
    // Pushed, not polled: the change arrives well inside a poll-free deadline. The bound is generous because
    // a loaded CI machine slows the consumer's writes; idle, the latency is tens of milliseconds (README).
    expect(latency).toBeLessThan(10_000);

    // A burst of changes: pushes keep at least the interval apart and end on the latest state.
    const pushes: { at: number; sent: number }[] = [];
    const collecting = (async () => {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        pushes.push({ at: Date.now(), sent: Number(next.value.stats!.sent) });
        if (Number(next.value.stats!.sent) === 9) break;
      }
    })();
    const burstStart = Date.now();
    for (let i = 1; i < 9; i++) await publishMessage(service.context.nats.js, workspaceId, record(`w-${i}`, "live"));
    await collecting;
    abort.abort();
    expect(pushes.at(-1)!.sent).toBe(9);
    // 8 changes, coalesced: at most one push per 300 ms (+1 for the leading edge; arrival jitter aside).
    expect(pushes.length).toBeLessThanOrEqual(Math.floor((Date.now() - burstStart) / 300) + 2);
  });

  it("reports rates from the counts on a hand-computed example, and nothing to another workspace", async () => {
    const workspaceId = uniqueName("ws");
    const js = service.context.nats.js;
    // 4 sends: a (SendGrid) delivered+opened+clicked+unsubscribed, reported twice; b (SES) delivered+opened twice+unsubscribed;
    // c delivered+complained, d hard bounce, e soft bounce (tag only, no sent).
    const [a, b] = ["sendgrid:a", "ses:b"];
    const messages: WorkloadMessage[] = [
      record(a, "hand"), record(b, "hand"), record("c", "hand"), record("d", "hand"),
      event(a, "email.unsubscribed"), event(a, "email.delivered"), event(a, "email.opened"),
      event(a, "email.clicked", { click: { link: "https://x.test/1", ua: "Mozilla/5.0", at: workloadBase + 3_600_000 } }),
      event(b, "email.delivered"), event(b, "email.opened"), event(b, "email.unsubscribed"), event(b, "email.opened"),
      event("c", "email.delivered"), event("c", "email.complained"),
      event("d", "email.bounced", { bounce: { type: "Permanent", subType: "General" } }),
      event("e", "email.bounced", { bounce: { type: "Transient", subType: "MailboxFull" }, tags: { campaign_id: "hand" } }),
      event(a, "email.unsubscribed"),
    ];
    for (const message of messages) await publishMessage(js, workspaceId, message);
    const stats = await waitFor(async () => {
      const { stats } = await client.getCampaignStats({ workspaceId, campaignId: "hand" });
      const applied = [stats!.softBounced, stats!.clicks, stats!.complained, stats!.opens, stats!.unsubscribed].map(Number);
      return applied.join() === [1, 1, 1, 3, 2].join() ? stats! : undefined;
    }, { what: "hand example applied" });
    expect([stats.sent, stats.delivered, stats.uniqueOpens, stats.opens, stats.uniqueClicks, stats.hardBounced].map(Number)).toEqual([4, 3, 2, 3, 1, 1]);
    expect(stats.rates!.deliveryRate).toBeCloseTo(3 / 4, 12);
    expect(stats.rates!.openRate).toBeCloseTo(2 / 3, 12);
    expect(stats.rates!.clickRate).toBeCloseTo(1 / 3, 12);
    expect(stats.rates!.clickToOpenRate).toBeCloseTo(1 / 2, 12);
    expect(stats.rates!.bounceRate).toBeCloseTo(1 / 4, 12);
    expect(stats.rates!.softBounceRate).toBeCloseTo(1 / 4, 12);
    expect(stats.rates!.complaintRate).toBeCloseTo(1 / 3, 12);
    expect(stats.rates!.unsubscribeRate).toBeCloseTo(2 / 3, 12);

    const other = await client.getCampaignStats({ workspaceId: uniqueName("ws"), campaignId: "hand" });
    expect(Number(other.stats!.sent)).toBe(0);
    expect(other.stats!.updatedTime).toBeUndefined();
    const batch = await client.batchGetCampaignStats({ workspaceId, campaignIds: ["nope", "hand", "nope"] });
    expect(batch.stats.map((entry) => [entry.campaignId, Number(entry.sent)])).toEqual([["nope", 0], ["hand", 4], ["nope", 0]]);
  });

  it("rejects bad input naming the field", async () => {
    const code = async (call: Promise<unknown>) => {
      try {
        await call;
        return undefined;
      } catch (error) {
        return [ConnectError.from(error).code, ConnectError.from(error).rawMessage.split(":")[0]];
      }
    };
    expect(await code(client.getCampaignStats({ workspaceId: "", campaignId: "c" }))).toEqual([Code.InvalidArgument, "workspace_id"]);
    expect(await code(client.getCampaignStats({ workspaceId: "ws", campaignId: "" }))).toEqual([Code.InvalidArgument, "campaign_id"]);
    expect(await code(client.batchGetCampaignStats({ workspaceId: "ws", campaignIds: [] }))).toEqual([Code.InvalidArgument, "campaign_ids"]);
    expect(await code(client.batchGetCampaignStats({ workspaceId: "ws", campaignIds: Array.from({ length: 101 }, (_, i) => `c${i}`) }))).toEqual([Code.InvalidArgument, "campaign_ids"]);
    expect(await code(client.listLinkClicks({ workspaceId: "ws", campaignId: "c", pageToken: "forged.token" }))).toEqual([Code.InvalidArgument, "page_token"]);
    expect(await code(client.listLinkClicks({ workspaceId: "ws", campaignId: "c", pageSize: -1 }))).toEqual([Code.InvalidArgument, "page_size"]);
    const start = timestampFromMs(workloadBase);
    expect(await code(client.getCampaignTimeSeries({ workspaceId: "ws", campaignId: "c", endTime: start }))).toEqual([Code.InvalidArgument, "start_time"]);
    expect(await code(client.getCampaignTimeSeries({ workspaceId: "ws", campaignId: "c", startTime: start, endTime: start }))).toEqual([Code.InvalidArgument, "end_time"]);
    expect(await code(client.getCampaignTimeSeries({ workspaceId: "ws", campaignId: "c", startTime: start, endTime: timestampFromMs(workloadBase + 32 * 86_400_000) }))).toEqual([Code.InvalidArgument, "end_time"]);
    expect(await code(client.getWorkspaceDeliverability({ workspaceId: "bad id!", startTime: start, endTime: start }))).toEqual([Code.InvalidArgument, "workspace_id"]);
    expect(await code(client.getWorkspaceDeliverability({ workspaceId: "ws", endTime: start }))).toEqual([Code.InvalidArgument, "start_time"]);
    expect(await code(client.getWorkspaceDeliverability({ workspaceId: "ws", startTime: start }))).toEqual([Code.InvalidArgument, "end_time"]);
    expect(await code(client.getWorkspaceDeliverability({ workspaceId: "ws", startTime: start, endTime: start }))).toEqual([Code.InvalidArgument, "end_time"]);
    expect(await code(client.getWorkspaceDeliverability({ workspaceId: "ws", startTime: start, endTime: timestampFromMs(workloadBase + 91 * 86_400_000) }))).toEqual([Code.InvalidArgument, "end_time"]);
    // 90 whole days is the most; a never-seen workspace has every day, each with no provider.
    const dayStart = Math.floor(workloadBase / 86_400_000) * 86_400_000;
    const quiet = await client.getWorkspaceDeliverability({ workspaceId: "ws_quiet", startTime: timestampFromMs(dayStart), endTime: timestampFromMs(dayStart + 90 * 86_400_000) });
    expect([quiet.days.length, quiet.days.every((day) => day.providers.length === 0)]).toEqual([90, true]);
    const series = await client.getCampaignTimeSeries({ workspaceId: "ws", campaignId: "c", startTime: timestampFromMs(workloadBase + 1), endTime: timestampFromMs(workloadBase + 2 * 3_600_000 - 1) });
    expect(series.points).toHaveLength(2);
  });
});
