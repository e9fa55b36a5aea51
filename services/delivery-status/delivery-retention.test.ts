/**
 * Delivery status's lifetimes against the real database: a send goes with its whole timeline (entries on
 * the document and on retired-fact pages) once SENDS_RETENTION_DAYS passed since its last change; a younger
 * send, a send whose SendRecorded is not yet published and running reconciliations stay; finished runs go
 * after RECONCILE_RUN_RETENTION_DAYS; and the variables reach the service.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { MongoClient, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { sampleEmailEvent, type EmailEventType } from "../../cli/resend-samples.ts";
import { privateNats, shared, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { parseResendEvent } from "../shared/resend-events.ts";
import { dayMs, sweepUntilDone } from "../shared/retention.ts";
import { startService } from "../shared/service-host.ts";
import { toIncomingEvent } from "./consumer.ts";
import { deliveryRetentionRules, loadDeliveryRetentionSettings } from "./delivery-retention.ts";
import { RunRepository, type ReconciliationRun } from "./reconcile/run-repository.ts";
import { SendsRepository } from "./sends-repository.ts";
import { deliveryStatusService, loadDeliveryStatusSettings } from "./service.ts";
import { applyEvent, applyEvents, type IncomingEvent } from "./use-cases/apply-event.ts";
import { listSendEvents } from "./use-cases/queries.ts";

const t0 = Date.parse("2025-01-10T10:00:00.000Z");
const limits = { pageSize: 20, pages: 2 };

function incoming(workspaceId: string, emailId: string, svixId: string, type: EmailEventType, seconds: number): IncomingEvent {
  const body = sampleEmailEvent(type, { emailId, createdAt: new Date(t0 + seconds * 1000), to: ["ann@example.com"] });
  return toIncomingEvent(parseResendEvent({ workspaceId, svixId, receivedAtMs: t0, rawBody: new TextEncoder().encode(JSON.stringify(body)) }))!;
}

describe("delivery status's retention rules", () => {
  let client: MongoClient;
  let db: Db;
  let sends: SendsRepository;
  let runs: RunRepository;
  const rule = (name: string) => deliveryRetentionRules(loadDeliveryRetentionSettings({}), { sends, runs }).find((candidate) => candidate.name === name)!;

  beforeAll(async () => {
    client = await new MongoClient(shared.mongoUri).connect();
    db = client.db(uniqueName("delivery_retention"));
    sends = new SendsRepository(db);
    runs = new RunRepository(db);
    await sends.ensureIndexes();
  });
  afterAll(async () => {
    await db?.dropDatabase().catch(() => {});
    await client?.close();
  });

  /** A send of 150 events (delivered, then opens: some retired to timeline pages), last changed at `changedAtMs`. */
  async function sendWithManyEvents(ws: string, emailId: string, changedAtMs: number) {
    const events = [incoming(ws, emailId, `${emailId}_delivered`, "email.delivered", 0)];
    for (let i = 0; i < 149; i++) events.push(incoming(ws, emailId, `${emailId}_open_${i}`, "email.opened", 10 + i));
    for (let i = 0; i < events.length; i += 50) await applyEvents({ repo: sends, notify: () => {}, now: () => changedAtMs }, events.slice(i, i + 50));
    expect((await sends.get(ws, emailId))!.timelinePages).toBeGreaterThan(0);
    return events;
  }
  const stored = async (ws: string, emailId: string) => ({
    timeline: await db.collection("delivery_timeline").countDocuments({ workspaceId: ws, emailId }),
    pages: await db.collection("delivery_timeline_pages").countDocuments({ workspaceId: ws, emailId }),
    send: (await sends.get(ws, emailId)) !== undefined,
  });

  it("delete a send unchanged for SENDS_RETENTION_DAYS with every timeline entry and page, and keep a younger one whole", { timeout: 120_000 }, async () => {
    const ws = uniqueName("ws");
    const now = t0 + 500 * dayMs;
    await sendWithManyEvents(ws, "old", now - 401 * dayMs);
    const young = await sendWithManyEvents(ws, "young", now - 399 * dayMs);
    // Sends of the same age beyond a run's pages: the backlog goes over several runs.
    for (let i = 0; i < 45; i++) await applyEvent({ repo: sends, notify: () => {}, now: () => now - 450 * dayMs }, incoming(ws, `small_${i}`, `small_${i}_sent`, "email.sent", 0));

    expect(await sweepUntilDone(rule("delivery-status:sends"), now, limits)).toEqual({ deleted: 46, more: false });
    expect(await stored(ws, "old")).toEqual({ timeline: 0, pages: 0, send: false });
    expect(await stored(ws, "small_7")).toEqual({ timeline: 0, pages: 0, send: false });
    expect(await stored(ws, "young")).toMatchObject({ timeline: 150, send: true });
    const listed = await listSendEvents(sends, { workspaceId: ws, emailId: "young", pageSize: 1000, pageToken: "" });
    expect(listed.items.map((entry) => entry.svixId)).toEqual(young.map((event) => event.fact.svixId));
    // Its retired events are still recognised when redelivered: the entries that do so stayed.
    expect(await applyEvent({ repo: sends, notify: () => {}, now: () => now }, incoming(ws, "young", "young_open_3", "email.opened", 13))).toBe(false);
  });

  it("keep a send whose SendRecorded is still to be published, however old", async () => {
    const ws = uniqueName("ws");
    const now = t0 + 500 * dayMs;
    await applyEvent({ repo: sends, notify: () => {}, now: () => now - 450 * dayMs }, incoming(ws, "unannounced", "unannounced_sent", "email.sent", 0));
    const send = (await sends.get(ws, "unannounced"))!;
    expect(await sends.writeMany([{ send: { ...send, version: send.version + 1 }, expectedVersion: send.version, markSendRecordedPending: true }])).toBe(true);
    expect(await sweepUntilDone(rule("delivery-status:sends"), now, limits)).toEqual({ deleted: 0, more: false });
    expect(await stored(ws, "unannounced")).toEqual({ timeline: 1, pages: 0, send: true });
    await sends.clearPendingSendRecorded(ws, "unannounced");
    expect(await sweepUntilDone(rule("delivery-status:sends"), now, limits)).toEqual({ deleted: 1, more: false });
  });

  it("delete finished reconciliations after RECONCILE_RUN_RETENTION_DAYS and never a running one", async () => {
    const ws = uniqueName("ws");
    const now = Date.now();
    const run = (runId: string, createdAtMs: number): ReconciliationRun => ({
      workspaceId: ws,
      runId,
      selection: { unsettledOnly: false },
      trigger: "manual",
      state: "running",
      total: 0,
      checked: 0,
      changed: 0,
      unchanged: 0,
      failed: 0,
      failures: [],
      eventsPublished: 0,
      stopReason: "",
      createdAtMs,
      updatedAtMs: createdAtMs,
      owner: "",
      leaseUntilMs: 0,
    });
    for (const [runId, finishedDaysAgo, state] of [["old-ok", 95, "succeeded"], ["old-failed", 91, "failed"], ["recent", 89, "succeeded"]] as const) {
      const started = await runs.start(run(runId, now - (finishedDaysAgo + 1) * dayMs));
      expect(started.started).toBe(true);
      expect(await runs.finish(run(runId, 0), state, "done", now - finishedDaysAgo * dayMs)).toBe(true);
    }
    expect((await runs.start(run("still-running", now - 200 * dayMs))).started).toBe(true);

    expect(await sweepUntilDone(rule("delivery-status:reconciliations"), now, limits)).toEqual({ deleted: 2, more: false });
    expect(await runs.get(ws, "old-ok")).toBeUndefined();
    expect(await runs.get(ws, "old-failed")).toBeUndefined();
    expect((await runs.get(ws, "recent"))?.state).toBe("succeeded");
    expect((await runs.get(ws, "still-running"))?.state).toBe("running");
  });
});

describe("delivery status with SENDS_RETENTION_DAYS shortened", () => {
  it("answers a recorded send, then NotFound once it outlived the variable", { timeout: 60_000 }, async () => {
    const nats = await privateNats();
    const env = { SENDS_RETENTION_DAYS: "0.00005", RETENTION_SWEEP_MINUTES: "0.005" };
    const service = await startService(deliveryStatusService({ ...loadDeliveryStatusSettings(env), port: 0, outboxSweepMs: 1000 }), testBaseConfig({ natsUrl: nats.url }));
    try {
      const api = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
      const ws = uniqueName("ws");
      await api.recordSend({ workspaceId: ws, emailId: "e1", campaignId: "c1", subscriberId: "s1", recipient: "ann@example.com" });
      expect((await api.getSend({ workspaceId: ws, emailId: "e1" })).send?.campaignId).toBe("c1");
      // 0.00005 days: 4.3 s after its last change (long past the two calls above), swept every 0.3 s.
      await waitFor(
        () => api.getSend({ workspaceId: ws, emailId: "e1" }).then(() => false, (error: unknown) => ConnectError.from(error).code === Code.NotFound),
        { timeoutMs: 40_000, what: "the send to expire" },
      );
    } finally {
      await service.stop();
    }
  });
});
