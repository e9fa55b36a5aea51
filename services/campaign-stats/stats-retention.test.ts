/**
 * Campaign statistics' lifetime against the real database, through the ingest use cases: per-send state
 * goes after SENDS_RETENTION_DAYS (with what it moved to `stats_applied`) while campaign, hour and link
 * documents do not change by a byte; a send with a pending delta, or one a document still refers to,
 * stays until nothing waits on it; the variable reaches the service.
 */
import { defaultBulkSenderLimits } from "./deliverability/bulk-sender-limits.ts";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { MongoClient, type Db } from "mongodb";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { SendRecordedSchema } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { ResendEventSchema, type ResendEvent } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { privateNats, shared, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { publishResendEvent } from "../../test/publish-events.ts";
import { KeyedLock } from "../shared/keyed-lock.ts";
import { dayMs, sweepUntilDone } from "../shared/retention.ts";
import { startService } from "../shared/service-host.ts";
import { defaultAlertSettings } from "./alerts.ts";
import { campaignStatsService, loadCampaignStatsSettings } from "./service.ts";
import { StatsRepository } from "./stats-repository.ts";
import { loadStatsRetentionSettings, statsRetentionRules } from "./stats-retention.ts";
import { applyResendEvents, DoneRefs, type IngestDeps } from "./use-cases/ingest.ts";
import { defaultPruneRule, sweep } from "./use-cases/sweep.ts";

const limits = { pageSize: 4, pages: 2 };
const at = Date.UTC(2026, 10, 2, 10);
let svix = 0;

function event(workspaceId: string, emailId: string, type: string, offsetMs: number, click?: string): ResendEvent {
  return create(ResendEventSchema, {
    workspaceId,
    svixId: `msg_${++svix}`,
    type,
    eventTime: timestampFromMs(at + offsetMs),
    email: {
      emailId,
      to: [`${emailId}@example.com`],
      tags: { campaign_id: "spring" },
      detail: click ? { case: "click", value: { link: click, ipAddress: "192.0.2.1", userAgent: "Mozilla/5.0", timestamp: timestampFromMs(at + offsetMs) } } : { case: undefined },
    },
  });
}

/** Ten sends of campaign "spring": sent, delivered, opened twice, half of them clicked; e0 opened 130 times. */
function workload(ws: string): ResendEvent[] {
  const events: ResendEvent[] = [];
  for (let i = 0; i < 10; i++) {
    const emailId = `e${i}`;
    events.push(event(ws, emailId, "email.sent", 0), event(ws, emailId, "email.delivered", 60_000));
    for (let open = 0; open < (i === 0 ? 130 : 2); open++) events.push(event(ws, emailId, "email.opened", 3_600_000 + open * 60_000));
    if (i % 2 === 0) events.push(event(ws, emailId, "email.clicked", 7_200_000, `https://example.com/${i % 4}`));
  }
  return events;
}

describe("campaign statistics' retention rule", () => {
  let client: MongoClient;
  let db: Db;
  let repo: StatsRepository;
  const rule = () => statsRetentionRules(loadStatsRetentionSettings({}), repo)[0]!;
  const afterLifetime = () => Date.now() + 401 * dayMs;

  const deps = (crashAt?: string): IngestDeps => ({
    repo,
    rules: { scannerWindowMs: 10_000 },
    alerts: defaultAlertSettings,
    publishAlert: async () => {},
    limits: defaultBulkSenderLimits,
    publishLimitAlert: async () => {},
    notifyChanged: () => {},
    crashPoint: (label) => {
      if (label === crashAt) throw new Error(`crash at ${label}`);
    },
    done: new DoneRefs(),
    flowLocks: new KeyedLock(),
    now: () => Date.now(),
  });
  /** The same deps at a time the documents just written count as idle, when the stats sweep prunes them. */
  const idleLater = (of: IngestDeps): IngestDeps => ({ ...of, now: () => Date.now() + defaultPruneRule.idleMs + 1 });
  /** Every campaign, hour and link document of the workspace, exactly as stored. */
  /** The documents the numbers live in: a campaign's totals, hours and links, and the workspace's days. */
  const aggregateCollections = ["stats_campaigns", "stats_hours", "stats_links", "stats_days"];
  /** The sends whose delta refs those documents still list, read from them here (not through the repository). */
  const referencedSends = async (ws: string, collections = aggregateCollections) => {
    const refs: string[] = [];
    for (const name of collections) for (const doc of await db.collection(name).find({ workspaceId: ws }).toArray()) refs.push(...((doc.recent as string[] | undefined) ?? []));
    return new Set(refs.map((ref) => ref.slice(0, ref.lastIndexOf("#"))));
  };
  const aggregates = async (ws: string) => {
    const docs = [];
    for (const name of aggregateCollections) docs.push(...(await db.collection(name).find({ workspaceId: ws }).sort({ _id: 1 }).toArray()));
    return docs;
  };
  const sendIds = async (ws: string) => (await db.collection("stats_sends").find({ workspaceId: ws }, { projection: { emailId: 1 } }).toArray()).map((doc) => doc.emailId as string).sort();

  beforeAll(async () => {
    client = await new MongoClient(shared.mongoUri).connect();
  });
  afterAll(async () => client?.close());
  // A database per test: a sweep looks at every workspace's sends.
  beforeEach(async () => {
    db = client.db(uniqueName("stats_retention"));
    repo = new StatsRepository(db);
    await repo.init();
  });
  afterEach(async () => {
    await db.dropDatabase().catch(() => {});
  });

  it("delete expired send state, never a document the numbers live in, and keep a send a document still refers to", { timeout: 60_000 }, async () => {
    const ws = uniqueName("ws");
    const events = workload(ws);
    // One instance: its done refs let each document forget the refs of deltas finished before its last write.
    const instance = deps();
    const ingestStart = Date.now();
    for (let i = 0; i < events.length; i += 16) await applyResendEvents(instance, events.slice(i, i + 16));
    const sendWrittenAt = (await db.collection("stats_sends").findOne({ _id: `${ws}:e9` as never }))?.updatedAtMs;
    expect(sendWrittenAt).toBeGreaterThanOrEqual(ingestStart);
    expect(sendWrittenAt).toBeLessThanOrEqual(Date.now());
    const numbers = await repo.getCampaign(ws, "spring");
    expect(numbers?.counts).toMatchObject({ sent: 10, delivered: 10, opens: 148, uniqueOpens: 10, clicks: 5, uniqueClicks: 5 });
    expect(await db.collection("stats_applied").countDocuments({ emailId: "e0" })).toBeGreaterThan(0);

    // Within the lifetime nothing goes.
    expect(await sweepUntilDone(rule(), Date.now() + 399 * dayMs, limits)).toEqual({ deleted: 0, more: false });
    expect(await sendIds(ws)).toHaveLength(10);

    // After it: every send but those whose refs campaign, hour or link documents still list.
    const referenced = await referencedSends(ws);
    expect(referenced.size).toBeGreaterThan(0);
    // The day documents list refs too, and the sweeps (retention, the stats sweep's pruning) see them.
    expect((await referencedSends(ws, ["stats_days"])).size).toBeGreaterThan(0);
    expect((await repo.documentsWithRecent()).some((doc) => doc.kind === "day" && doc.workspaceId === ws)).toBe(true);
    expect(referenced.size).toBeLessThan(10);
    const before = await aggregates(ws);
    await sweepUntilDone(rule(), afterLifetime(), limits);
    expect(await sendIds(ws)).toEqual([...referenced].sort());
    expect(await aggregates(ws)).toEqual(before);

    // The stats sweep forgets finished refs; then the rest goes, and still no aggregate changes.
    await sweep(idleLater(instance));
    const pruned = await aggregates(ws);
    expect(await sweepUntilDone(rule(), afterLifetime(), limits)).toEqual({ deleted: referenced.size, more: false });
    expect(await sendIds(ws)).toEqual([]);
    expect(await db.collection("stats_applied").countDocuments({ emailId: "e0" })).toBe(0);
    expect(await aggregates(ws)).toEqual(pruned);
    expect(await repo.getCampaign(ws, "spring")).toEqual(numbers);
    expect(await repo.listLinks(ws, "spring", undefined, 10)).toHaveLength(2);
  });

  it("keep a send whose delta is still pending until it was applied, then let it go with the numbers exact", async () => {
    const ws = uniqueName("ws");
    const delivered = event(ws, "p1", "email.delivered", 60_000);
    // A crash after the send's write: the delta waits on the send, not yet in the campaign.
    await expect(applyResendEvents(deps("after-send-write"), [delivered])).rejects.toThrow(/crash/);
    expect((await repo.getSend(ws, "p1"))?.pending).toHaveLength(1);
    expect(await sweepUntilDone(rule(), afterLifetime(), limits)).toEqual({ deleted: 0, more: false });
    expect((await repo.getSend(ws, "p1"))?.pending).toHaveLength(1);

    // The redelivery applies it; once its ref is forgotten, the send goes and the number stays.
    await applyResendEvents(deps(), [delivered]);
    expect((await repo.getCampaign(ws, "spring"))?.counts).toMatchObject({ delivered: 1 });
    await sweep(idleLater(deps()));
    await sweepUntilDone(rule(), afterLifetime(), limits);
    expect(await repo.getSend(ws, "p1")).toBeNull();
    expect((await repo.getCampaign(ws, "spring"))?.counts).toMatchObject({ delivered: 1 });
  });

  it("write a send once per event: a done round confirms its delta, and the send's next write drops it", async () => {
    const ws = uniqueName("ws");
    const instance = deps();
    await applyResendEvents(instance, [event(ws, "r1", "email.delivered", 60_000)]);
    const first = (await repo.getSend(ws, "r1"))!;
    expect(first.v).toBe(1); // one write of the send
    expect(first.pending).toHaveLength(1);
    expect(first.pending[0]!.rounds).toHaveLength(1);
    expect(await repo.doneRounds(first.pending[0]!.rounds!)).toEqual(new Set(first.pending[0]!.rounds));
    expect(await repo.unconfirmedDeltas([first.pending])).toEqual([[]]);
    await applyResendEvents(instance, [event(ws, "r1", "email.opened", 3_600_000)]);
    const second = (await repo.getSend(ws, "r1"))!;
    expect(second.v).toBe(2);
    expect(second.pending.map((delta) => delta.seq)).toEqual([2]);
    expect((await repo.getCampaign(ws, "spring"))?.counts).toMatchObject({ delivered: 1, opens: 1 });
  });

  it("collect a round mark once no send lists it, never before, and count a redelivery once after refs and marks went", async () => {
    const ws = uniqueName("ws");
    const roundsRule = () => statsRetentionRules(loadStatsRetentionSettings({}), repo).find((rule) => rule.name === "campaign-stats:rounds")!;
    const marks = async () => (await db.collection("stats_rounds").find({}).toArray()).map((doc) => doc._id as unknown as string).sort();
    const delivered = event(ws, "g1", "email.delivered", 60_000);
    const opened = event(ws, "g1", "email.opened", 3_600_000);
    await applyResendEvents(deps(), [delivered]);
    const [firstRound] = (await repo.getSend(ws, "g1"))!.pending[0]!.rounds!;
    await sweep(idleLater(deps())); // the documents forget the confirmed ref
    expect(await referencedSends(ws)).toEqual(new Set());
    // Listed by the send: kept however old.
    expect(await sweepUntilDone(roundsRule(), Date.now() + 2 * 3_600_000, limits)).toEqual({ deleted: 0, more: false });
    expect(await marks()).toEqual([firstRound]);
    await applyResendEvents(deps(), [delivered]); // a redelivery: its cause is applied and its delta confirmed
    await applyResendEvents(deps(), [opened]); // drops the confirmed delta: nothing lists the first mark
    const [secondRound] = (await repo.getSend(ws, "g1"))!.pending[0]!.rounds!;
    await sweep(idleLater(deps()));
    // Younger than the margin: kept; past it, the unlisted one goes and the listed one stays.
    expect(await sweepUntilDone(roundsRule(), Date.now(), limits)).toEqual({ deleted: 0, more: false });
    expect(await sweepUntilDone(roundsRule(), Date.now() + 2 * 3_600_000, limits)).toEqual({ deleted: 1, more: false });
    expect(await marks()).toEqual([secondRound]);
    // Redeliveries to an instance that remembers nothing: counted once.
    await applyResendEvents(deps(), [delivered, opened]);
    await applyResendEvents(deps(), [opened]);
    expect((await repo.getCampaign(ws, "spring"))?.counts).toMatchObject({ delivered: 1, opens: 1 });
    expect(await referencedSends(ws)).toEqual(new Set());
  });

  it("leave the refs of a document being written to its next write, and prune them once it is idle or its list is long", async () => {
    const ws = uniqueName("ws");
    const instance = deps();
    await applyResendEvents(instance, workload(ws));
    const listed = async () => (await referencedSends(ws)).size;
    expect(await listed()).toBeGreaterThan(0);
    // Just written: the sweep writes nothing (each prune is a write; a busy store's sweep wrote thousands at once).
    expect((await sweep(instance)).refsPruned).toBe(0);
    expect(await listed()).toBeGreaterThan(0);
    // A long list is pruned however fresh.
    expect((await sweep(instance, { ...defaultPruneRule, longList: 0 })).refsPruned).toBeGreaterThan(0);
    expect(await listed()).toBe(0);
    // And once idle, whatever its length.
    await applyResendEvents(instance, [event(ws, "late", "email.delivered", 60_000)]);
    expect(await listed()).toBeGreaterThan(0);
    expect((await sweep(instance)).refsPruned).toBe(0);
    expect((await sweep(idleLater(instance))).refsPruned).toBeGreaterThan(0);
    expect(await listed()).toBe(0);
  });

  it("give a send stored before sends had a write time the full lifetime from its first sweep", async () => {
    const ws = uniqueName("ws");
    await applyResendEvents(deps(), [event(ws, "legacy", "email.delivered", 0)]);
    await db.collection("stats_sends").updateOne({ _id: `${ws}:legacy` as never }, { $unset: { updatedAtMs: "" } });
    await sweep(idleLater(deps()));
    const firstSweep = Date.now() + 30 * dayMs;
    await sweepUntilDone(rule(), firstSweep, limits);
    expect((await db.collection("stats_sends").findOne({ _id: `${ws}:legacy` as never }))?.updatedAtMs).toBe(firstSweep);
    await sweepUntilDone(rule(), firstSweep + 399 * dayMs, limits);
    expect(await repo.getSend(ws, "legacy")).not.toBeNull();
    await sweepUntilDone(rule(), firstSweep + 401 * dayMs, limits);
    expect(await repo.getSend(ws, "legacy")).toBeNull();
  });
});

describe("campaign stats with SENDS_RETENTION_DAYS shortened", () => {
  it("drops a send's state once it outlived the variable and reports the same numbers", { timeout: 60_000 }, async () => {
    const nats = await privateNats();
    const config = testBaseConfig({ natsUrl: nats.url });
    const env = { SENDS_RETENTION_DAYS: "0.0001", RETENTION_SWEEP_MINUTES: "0.005", STATS_SWEEP_INTERVAL_SECONDS: "1", STATS_PRUNE_IDLE_SECONDS: "1" };
    const service = await startService(campaignStatsService({ ...loadCampaignStatsSettings(env), port: 0, consumerAckWaitMs: 2000 }), config);
    const mongo = await new MongoClient(config.mongoUri).connect();
    try {
      const api = createClient(CampaignStatsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
      const ws = uniqueName("ws");
      const recorded = create(SendRecordedSchema, { workspaceId: ws, emailId: "r1", campaignId: "spring", subscriberId: "s1", recipient: "ann@example.com", sentTime: timestampFromMs(at), recordedTime: timestampFromMs(at) });
      await service.context.nats.js.publish(`sends.${ws}.recorded`, toBinary(SendRecordedSchema, recorded), { msgID: `${ws}:r1` });
      await publishResendEvent(service.context.nats.js, ws, sampleEmailEvent("email.delivered", { emailId: "r1", createdAt: new Date(at + 60_000) }));
      const numbers = async () => (await api.getCampaignStats({ workspaceId: ws, campaignId: "spring" })).stats!;
      await waitFor(async () => Number((await numbers()).delivered) === 1, { what: "the delivery counted" });
      const sends = mongo.db(config.mongoDatabase).collection("stats_sends");
      expect(await sends.countDocuments({ workspaceId: ws })).toBe(1);
      // 0.0001 days: 8.6 s after its last write (and after the stats sweep forgot its refs, 1 s idle), swept every 0.3 s.
      await waitFor(async () => (await sends.countDocuments({ workspaceId: ws })) === 0, { timeoutMs: 40_000, what: "the send state to expire" });
      expect(await numbers()).toMatchObject({ sent: 1n, delivered: 1n });
    } finally {
      await service.stop();
      await mongo.close();
    }
  });
});
