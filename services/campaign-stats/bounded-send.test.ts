/**
 * One send with hundreds of events, end to end through JetStream and the consumers, against the real
 * database: exact numbers (computed from the input) however often Resend retries, a bounded send
 * document, and a send stored in the shape before it was bounded read and completed.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { BSON, MongoClient, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import type { BaseConfig } from "../shared/config.ts";
import { DOMAIN_EVENTS_STREAM, RESEND_EVENTS_STREAM } from "../shared/nats.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { eventsConsumerName, sendsConsumerName } from "./consumer.ts";
import { countFields } from "./counts.ts";
import { campaignStatsService, loadCampaignStatsSettings } from "./service.ts";
import { campaignDocId } from "./stats-repository.ts";
import { contributionOf, emptySendState, applyRecord, applyFact, undecidedClickCap } from "./send-state.ts";
import { expectedFrom, humanAgent, publishMessage, scannerAgent, workloadBase, type WorkloadMessage } from "../../test/support/campaign-stats-workload.ts";

const minute = 60_000;

describe("a send with hundreds of events, through the campaign-stats consumers", () => {
  let config: BaseConfig;
  let service: RunningService;
  let api: Client<typeof CampaignStatsService>;
  let mongo: MongoClient;
  let db: Db;

  beforeAll(async () => {
    const nats = await privateNats();
    config = testBaseConfig({ natsUrl: nats.url });
    mongo = await new MongoClient(config.mongoUri).connect();
    db = mongo.db(config.mongoDatabase);
    service = await startService(campaignStatsService({ ...loadCampaignStatsSettings({}), port: 0, consumerAckWaitMs: 2000 }), config);
    api = createClient(CampaignStatsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
  });
  afterAll(async () => {
    await service?.stop();
    await db?.dropDatabase().catch(() => {});
    await mongo?.close();
  });

  const drained = async () => {
    for (const [stream, name] of [[RESEND_EVENTS_STREAM, eventsConsumerName], [DOMAIN_EVENTS_STREAM, sendsConsumerName]] as const) {
      const info = await service.context.nats.jsm.consumers.info(stream, name);
      if (info.num_pending > 0 || info.num_ack_pending > 0) return false;
    }
    return true;
  };
  const statsOf = async (workspaceId: string, campaignId: string) => (await api.getCampaignStats({ workspaceId, campaignId })).stats!;

  it("count every open and click once, keep the send document bounded, and match the input", { timeout: 120_000 }, async () => {
    const ws = uniqueName("ws");
    const at = (offset: number) => workloadBase + offset;
    const messages: WorkloadMessage[] = [
      { kind: "record", emailId: "proxy", campaignId: "spring", sentAt: at(0) },
      { kind: "event", svixId: "svix_delivered", type: "email.delivered", emailId: "proxy", at: at(minute), tags: {} },
    ];
    for (let i = 0; i < 300; i++) messages.push({ kind: "event", svixId: `svix_open_${i}`, type: "email.opened", emailId: "proxy", at: at(2 * minute + i * minute), tags: {} });
    for (let i = 0; i < 40; i++) {
      // Some within seconds of the delivery (scanners by rule 2), some by a scanner's user agent, the rest hours later.
      const clickAt = at(i < 10 ? minute + 2000 + i * 100 : 3 * minute + i * 7 * minute);
      const click = { link: `https://example.com/${i % 4}`, ua: i % 5 === 0 ? scannerAgent : humanAgent, at: clickAt };
      messages.push({ kind: "event", svixId: `svix_click_${i}`, type: "email.clicked", emailId: "proxy", at: clickAt, tags: {}, click });
    }
    for (const message of messages) await publishMessage(service.context.nats.js, ws, message);
    // Resend's retries long after the duplicate window: early and late opens, a click, the delivery.
    const retried = messages.filter((message) => message.kind === "event" && ["svix_open_0", "svix_open_57", "svix_open_299", "svix_click_3", "svix_delivered"].includes(message.svixId));
    for (const message of retried) await publishMessage(service.context.nats.js, ws, message, 1);

    const expected = expectedFrom(messages).campaigns.get("spring")!;
    await waitFor(async () => (await drained()) && Number((await statsOf(ws, "spring")).opens) >= expected.opens, { timeoutMs: 100_000, what: "every message applied" });
    const stats = await statsOf(ws, "spring");
    for (const field of countFields) expect(Number(stats[field]), field).toBe(expected[field]);

    const send = (await db.collection("stats_sends").findOne({ _id: `${ws}:proxy` as never }))!;
    expect((send.applied as string[]).length).toBeLessThanOrEqual(150); // the latest causes (at most 100) and one batch's
    expect((send.state.clicks as unknown[]).length).toBeLessThanOrEqual(undecidedClickCap);
    expect(send.state.opens).toBeUndefined();
    expect(BSON.calculateObjectSize(send)).toBeLessThan(24_000);
  });

  it("read a send stored with every open and cause on it, and count a retry of one of its old events once", { timeout: 60_000 }, async () => {
    const ws = uniqueName("ws");
    const opens = Array.from({ length: 250 }, (_, i) => workloadBase + 2 * minute + i * minute);
    // The shape before: every open time in the state (and no unsubscribe time), every cause in `applied`, the contribution it added.
    let state = applyFact(applyRecord(emptySendState(), "autumn", workloadBase), { kind: "delivered", t: workloadBase + minute });
    for (const t of opens) state = applyFact(state, { kind: "opened", t });
    const contrib = contributionOf(state, { scannerWindowMs: 10_000 });
    const { openHours: _h, undecidedOpens: _o, firstOpenAt: _f, clickHours: _c, clickLinks: _l, firstClickAt: _k, unsubscribedAt: _u, ...oldState } = state;
    await db.collection("stats_sends").insertOne({
      _id: `${ws}:old`,
      workspaceId: ws,
      emailId: "old",
      campaignId: "autumn",
      v: 252,
      state: { ...oldState, opens },
      contrib,
      pending: [],
      applied: ["record", "svix:svix_delivered", ...opens.map((_, i) => `svix:svix_old_${i}`)],
    } as never);
    await db.collection("stats_campaigns").insertOne({
      _id: campaignDocId(ws, "autumn"),
      workspaceId: ws,
      campaignId: "autumn",
      v: 1,
      ...(contrib.find((part) => part.kind === "campaign")!.inc as object),
    } as never);
    expect(Number((await statsOf(ws, "autumn")).opens)).toBe(250);

    const open = (svixId: string, t: number): WorkloadMessage => ({ kind: "event", svixId, type: "email.opened", emailId: "old", at: t, tags: {} });
    await publishMessage(service.context.nats.js, ws, open("svix_old_57", opens[57]!), 1);
    await publishMessage(service.context.nats.js, ws, open("svix_new_1", workloadBase + 600 * minute));
    await waitFor(async () => (await drained()) && Number((await statsOf(ws, "autumn")).opens) >= 251, { timeoutMs: 30_000, what: "the new open" });
    // Now the old causes live in stats_applied: retries of them are still recognised.
    await publishMessage(service.context.nats.js, ws, open("svix_old_3", opens[3]!), 1);
    await publishMessage(service.context.nats.js, ws, open("svix_new_1", workloadBase + 600 * minute), 1);
    await publishMessage(service.context.nats.js, ws, open("svix_new_2", workloadBase + 601 * minute));
    await waitFor(async () => (await drained()) && Number((await statsOf(ws, "autumn")).opens) >= 252, { timeoutMs: 30_000, what: "the second new open" });
    const stats = await statsOf(ws, "autumn");
    expect([stats.opens, stats.uniqueOpens, stats.delivered, stats.sent, stats.unsubscribed].map(Number)).toEqual([252, 1, 1, 1, 0]);
    const send = (await db.collection("stats_sends").findOne({ _id: `${ws}:old` as never }))!;
    expect((send.applied as string[]).length).toBeLessThan(10);
    expect(send.state.opens).toBeUndefined();
    expect(await db.collection("stats_applied").countDocuments({ emailId: "old" })).toBeGreaterThanOrEqual(251);
  });
});
