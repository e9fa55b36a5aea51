/**
 * The gateway's lifetimes against the real database: webhook health hours go after their lifetime and
 * each workspace's `last` document stays; audit entries go after theirs; the variables reach the service.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { MongoClient, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { newWebhookSecret } from "../../cli/sign.ts";
import { privateNats, shared, testBaseConfig, testSecretsKey, uniqueName, waitFor } from "../../test/harness.ts";
import type { AuditRecord } from "../shared/audit.ts";
import { dayMs, sweepUntilDone } from "../shared/retention.ts";
import { startService } from "../shared/service-host.ts";
import { gatewayRetentionRules, loadGatewayRetentionSettings } from "./gateway-retention.ts";
import { hourKey, HealthRepository } from "./health/health-repository.ts";
import { gatewayService, loadGatewaySettings } from "./service.ts";
import { AuditRepository } from "./workspace/audit-repository.ts";

const limits = { pageSize: 50, pages: 2 };
const hourMs = 3_600_000;

describe("the gateway's retention rules", () => {
  let client: MongoClient;
  let db: Db;
  let health: HealthRepository;
  let audits: AuditRepository;
  const rules = () => gatewayRetentionRules(loadGatewayRetentionSettings({}), { health, audits });
  const rule = (name: string) => rules().find((candidate) => candidate.name === name)!;

  beforeAll(async () => {
    client = await new MongoClient(shared.mongoUri).connect();
    db = client.db(uniqueName("gateway_retention"));
    health = new HealthRepository(db);
    audits = new AuditRepository(db);
    await audits.ensureIndexes();
  });
  afterAll(async () => {
    await db?.dropDatabase().catch(() => {});
    await client?.close();
  });

  it("delete health hours older than 30 days, keep younger ones and each workspace's last accepted time", async () => {
    const now = Date.now();
    const [a, b] = [uniqueName("ws"), uniqueName("ws")];
    const hourAgo = (hours: number) => hourKey(new Date(now - hours * hourMs));
    // 120 old hours for a (over two runs' pages), a few young ones for both; a's last webhook was 40 days ago.
    for (let hours = 31 * 24; hours < 31 * 24 + 120; hours++) await health.add(a, hourAgo(hours), { accepted: 1 }, hours === 31 * 24 ? new Date(now - 40 * dayMs) : undefined);
    for (const hours of [1, 5, 29 * 24]) {
      await health.add(a, hourAgo(hours), { accepted: 2 });
      await health.add(b, hourAgo(hours), { accepted: 3 }, new Date(now - hours * hourMs));
    }

    expect(await rule("webhook-gateway:health-hours").expireByDatabase!()).toBe(false); // FerretDB v1: no TTL indexes
    expect(await sweepUntilDone(rule("webhook-gateway:health-hours"), now, limits)).toEqual({ deleted: 120, more: false });

    const collection = db.collection("gateway_webhook_health");
    expect(await collection.countDocuments({ workspaceId: a })).toBe(3 + 1);
    expect(await collection.findOne({ _id: `${a}:last` as never })).toMatchObject({ lastAcceptedAt: new Date(now - 40 * dayMs) });
    expect(await collection.countDocuments({ workspaceId: b })).toBe(3 + 1);
    const read = await health.read(a, [hourAgo(1), hourAgo(5), hourAgo(29 * 24), hourAgo(31 * 24)]);
    expect(read).toMatchObject({ counts: { accepted: 6 }, lastAcceptedAt: new Date(now - 40 * dayMs) });
  });

  it("delete audit entries older than AUDIT_RETENTION_DAYS and keep younger ones", async () => {
    const now = Date.now();
    const ws = uniqueName("ws");
    const entry = (id: string, ageDays: number): AuditRecord => ({
      id: `${ws}-${id}`,
      workspaceId: ws,
      service: "webhook-gateway",
      action: "set_webhook_secret",
      caller: "ops",
      actor: "ann",
      note: "",
      target: "",
      atMs: now - ageDays * dayMs,
    });
    for (const [id, age] of [["old1", 800], ["old2", 731], ["young1", 729], ["young2", 1]] as const) await audits.record(entry(id, age));
    expect(await rule("webhook-gateway:audit").expireByDatabase!()).toBe(false);
    expect(await sweepUntilDone(rule("webhook-gateway:audit"), now, limits)).toEqual({ deleted: 2, more: false });
    expect((await audits.list(ws, undefined, 10)).map((kept) => kept.id)).toEqual([`${ws}-young2`, `${ws}-young1`]);
  });
});

describe("the gateway with AUDIT_RETENTION_DAYS shortened", () => {
  it("lists an audit entry, then no longer once it outlived the variable", { timeout: 60_000 }, async () => {
    const nats = await privateNats();
    const env = { GATEWAY_PORT: "0", SECRETS_KEY: testSecretsKey, AUDIT_RETENTION_DAYS: "0.0001", RETENTION_SWEEP_MINUTES: "0.005" };
    const gateway = await startService(gatewayService(loadGatewaySettings(env)), testBaseConfig({ natsUrl: nats.url }));
    try {
      const api = createClient(WorkspaceSettingsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${gateway.port}` }));
      const ws = uniqueName("ws");
      await api.setWebhookSecret({ workspaceId: ws, secret: newWebhookSecret(), actor: "ann", note: "onboarding" });
      expect((await api.listAuditEntries({ workspaceId: ws, pageSize: 10 })).entries).toHaveLength(1);
      // 0.0001 days: 8.6 s, swept every 0.3 s.
      await waitFor(async () => (await api.listAuditEntries({ workspaceId: ws, pageSize: 10 })).entries.length === 0, { timeoutMs: 30_000, what: "the entry to expire" });
    } finally {
      await gateway.stop();
    }
  });
});
