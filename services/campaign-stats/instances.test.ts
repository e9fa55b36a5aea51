/**
 * Two campaign-stats instances on one database, as the ingest use cases see
 * them: each with its own repository (and its cached copies), done set and
 * locks. Interleavings a real pair of processes only hits by chance are forced
 * here with the crash-point hook, which can hold an instance between writes.
 */
import { defaultBulkSenderLimits, type BulkSenderLimits, type PendingLimitAlert } from "./deliverability/bulk-sender-limits.ts";
import { MongoClient } from "mongodb";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResendEventSchema, type ResendEvent } from "../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { shared, uniqueName } from "../../test/harness.ts";
import { KeyedLock } from "../shared/keyed-lock.ts";
import type { AlertSettings, PendingAlert } from "./alerts.ts";
import { defaultAlertSettings } from "./alerts.ts";
import { StatsRepository } from "./stats-repository.ts";
import { applyResendEvents, DoneRefs, type IngestDeps } from "./use-cases/ingest.ts";

let client: MongoClient;
beforeAll(async () => {
  client = await new MongoClient(shared.mongoUri).connect();
});
afterAll(async () => client?.close());

interface Instance {
  deps: IngestDeps;
  alerts: PendingAlert[];
  limitAlerts: PendingLimitAlert[];
  /** Label → a promise the instance waits on when it reaches that crash point (once). */
  holds: Map<string, Promise<void>>;
}

async function instance(dbName: string, alerts: AlertSettings = defaultAlertSettings, limits: BulkSenderLimits = defaultBulkSenderLimits): Promise<Instance> {
  const db = client.db(dbName);
  const repo = new StatsRepository(db);
  await repo.init();
  const published: PendingAlert[] = [];
  const limitAlerts: PendingLimitAlert[] = [];
  const holds = new Map<string, Promise<void>>();
  const deps: IngestDeps = {
    repo,
    rules: { scannerWindowMs: 10_000 },
    alerts,
    publishAlert: async (_workspaceId, _campaignId, alert) => void published.push(alert),
    limits,
    publishLimitAlert: async (_workspaceId, alert) => void limitAlerts.push(alert),
    notifyChanged: () => {},
    crashPoint: async (label) => {
      const hold = holds.get(label);
      holds.delete(label);
      await hold;
    },
    done: new DoneRefs(),
    flowLocks: new KeyedLock(),
    now: () => Date.now(),
  };
  return { deps, alerts: published, limitAlerts, holds };
}

const at = Date.UTC(2026, 11, 1, 10);
let svix = 0;
function event(workspaceId: string, emailId: string, type: string, campaignId: string, bounce?: { type: string; subType: string }): ResendEvent {
  return create(ResendEventSchema, {
    workspaceId,
    svixId: `msg_${++svix}`,
    type,
    eventTime: timestampFromMs(at + svix),
    email: {
      emailId,
      to: [`${emailId}@example.com`],
      tags: { campaign_id: campaignId },
      detail: bounce ? { case: "bounce", value: { type: bounce.type, subType: bounce.subType, message: "" } } : { case: undefined },
    },
  });
}

/** A promise and the function that resolves it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describe("two campaign-stats instances on one database", () => {
  it("apply a send's delta once when one instance finishes it while the other still holds the send with it pending", async () => {
    const dbName = uniqueName("instances");
    const [a, b] = [await instance(dbName), await instance(dbName)];
    const ws = uniqueName("ws");
    const delivered = event(ws, "e1", "email.delivered", "c1");

    // B stores the send with its delta pending, then stalls before moving it into the campaign.
    const stalled = gate();
    const bReachedHold = gate();
    b.holds.set("after-send-write", stalled.wait.finally(() => {}));
    const bRun = (async () => {
      const run = applyResendEvents(b.deps, [delivered]);
      bReachedHold.open();
      await run;
    })();
    await bReachedHold.wait;
    // Wait until B has really written the send (its pending delta is in the database).
    for (let i = 0; i < 400 && !(await a.deps.repo.getSend(ws, "e1"))?.pending.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await a.deps.repo.getSend(ws, "e1"))?.pending).toHaveLength(1);

    // A gets the same message (redelivered after B's ack wait): it finishes B's delta and drops the send's copy.
    await applyResendEvents(a.deps, [delivered]);
    // A's next write of the campaign forgets the finished delta's reference.
    await applyResendEvents(a.deps, [event(ws, "e2", "email.delivered", "c1")]);
    expect((await a.deps.repo.getCampaign(ws, "c1"))?.counts.delivered).toBe(2);

    stalled.open();
    await bRun;
    expect((await a.deps.repo.getCampaign(ws, "c1"))?.counts.delivered).toBe(2);
  });

  it("publish one alert for a crossing that both instances' writes take part in", async () => {
    const dbName = uniqueName("instances");
    const settings: AlertSettings = { ...defaultAlertSettings, minDelivered: 10, hardBounceRate: 0.2 };
    const [a, b] = [await instance(dbName, settings), await instance(dbName, settings)];
    const ws = uniqueName("ws");
    // 52 sends sent, 40 of them delivered, then the other 12 hard-bounced: the rate only rises, so there is
    // exactly one crossing (20 % of the sent, with at least 10 delivered), by whichever instance gets there.
    const inFlightOnBoth = async (events: ResendEvent[]) => {
      const batches: ResendEvent[][] = [[], [], [], [], [], []];
      for (const item of events) batches[Math.floor(Math.random() * batches.length)]!.push(item);
      await Promise.all(batches.map((batch, index) => applyResendEvents((index % 2 === 0 ? a : b).deps, batch)));
    };
    await inFlightOnBoth([
      ...Array.from({ length: 40 }, (_, i) => [event(ws, `s${i}`, "email.sent", "c1"), event(ws, `s${i}`, "email.delivered", "c1")]).flat(),
      ...Array.from({ length: 12 }, (_, i) => event(ws, `h${i}`, "email.sent", "c1")),
    ]);
    await inFlightOnBoth(Array.from({ length: 12 }, (_, i) => event(ws, `h${i}`, "email.bounced", "c1", { type: "Permanent", subType: "General" })));

    const campaign = await a.deps.repo.getCampaign(ws, "c1");
    expect(campaign?.counts).toMatchObject({ sent: 52, delivered: 40, hardBounced: 12 });
    const crossings = new Set([...a.alerts, ...b.alerts].map((alert) => `${alert.kind}:${alert.crossing}`));
    expect([...crossings]).toEqual(["hardBounceRate:1"]);
  });

  it("publish one bulk-sender crossing of a workspace-day that both instances' writes take part in", async () => {
    const dbName = uniqueName("instances");
    const limits: BulkSenderLimits = { warning: 0.05, critical: 0.5, minDelivered: 20 };
    const [a, b] = [await instance(dbName, defaultAlertSettings, limits), await instance(dbName, defaultAlertSettings, limits)];
    const ws = uniqueName("ws");
    const onBoth = async (events: ResendEvent[]) => {
      const batches: ResendEvent[][] = [[], [], [], [], [], []];
      for (const item of events) batches[Math.floor(Math.random() * batches.length)]!.push(item);
      await Promise.all(batches.map((batch, index) => applyResendEvents((index % 2 === 0 ? a : b).deps, batch)));
    };
    // 40 delivered over three campaigns (one day, recipients at example.com: "other"), then 4 complaints: the
    // day's rate only rises, to 10 %: one crossing of the 5 % warning, by whichever instance gets there.
    await onBoth(Array.from({ length: 40 }, (_, i) => event(ws, `d${i}`, "email.delivered", `c${i % 3}`)));
    await onBoth(Array.from({ length: 4 }, (_, i) => event(ws, `d${i}`, "email.complained", `c${i % 3}`)));
    const crossings = [...a.limitAlerts, ...b.limitAlerts].map((alert) => `${alert.provider}:${alert.level}:${alert.crossing}`);
    expect(new Set(crossings)).toEqual(new Set(["other:warning:1"]));
    const days = await a.deps.repo.getDays(ws, [Date.UTC(2026, 11, 1)]);
    expect(days.get(Date.UTC(2026, 11, 1))?.other).toMatchObject({ delivered: 40, complained: 4 });
  });
});
