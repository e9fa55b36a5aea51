/**
 * Secret changes and their audit entry and announcement, against the real
 * database and NATS: a failure after the save, or a crash, no longer loses
 * either or turns a stored change into an error.
 */
import { MongoClient, type Db } from "mongodb";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newWebhookSecret } from "../../../cli/sign.ts";
import { privateNats, shared, testBaseConfig, testSecretsKey, uniqueName, waitFor } from "../../../test/harness.ts";
import type { AuditRecord } from "../../shared/audit.ts";
import { createLogger } from "../../shared/log.ts";
import { connectNats, type NatsHandles } from "../../shared/nats.ts";
import { startGateway } from "../../../test/support/gateway-test-kit.ts";
import { AuditRepository } from "./audit-repository.ts";
import { announceSecretChange, secretChangeSubject } from "./invalidation.ts";
import { parseSecretKeys, sealSecret, secretFingerprint } from "./secret-box.ts";
import { serialiseOutboxEntry, sweepSecretOutbox } from "./secret-outbox.ts";
import { rotateWebhookSecret, setWebhookSecret, type SecretDeps } from "./secrets.ts";
import { WorkspaceRepository } from "./workspace-repository.ts";

describe("a webhook-secret change, its audit entry and its announcement", () => {
  const database = uniqueName("test");
  let client: MongoClient;
  let db: Db;
  let nats: NatsHandles;
  let natsUrl: string;
  const logs: string[] = [];
  const keys = parseSecretKeys(testSecretsKey);

  beforeAll(async () => {
    natsUrl = (await privateNats()).url;
    nats = await connectNats(natsUrl, "secret-outbox-test", createLogger({}, "error"));
    client = new MongoClient(shared.mongoUri, { retryWrites: false });
    db = client.db(database);
  });
  afterAll(async () => {
    await nats?.nc.close();
    await client?.close();
  });

  const deps = (overrides: Partial<SecretDeps> = {}): SecretDeps => ({
    repository: new WorkspaceRepository(db),
    audits: new AuditRepository(db),
    announce: (workspaceId) => announceSecretChange(nats.nc, workspaceId),
    log: createLogger({}, "debug", (line) => logs.push(line)),
    seal: (workspaceId, secret) => sealSecret(keys, workspaceId, secret),
    now: () => new Date(),
    ...overrides,
  });
  const failing = async () => Promise.reject(new Error("unavailable"));

  /** Counts the announcements of one workspace's changes, as every other gateway instance hears them. */
  function listen(nc: NatsConnection, workspaceId: string) {
    const heard = { count: 0 };
    nc.subscribe(secretChangeSubject(workspaceId), { callback: () => void heard.count++ });
    return heard;
  }

  it("answers OK when recording and announcing fail after the save, and the sweep then does both, once", async () => {
    const ws = uniqueName("ws");
    const heard = listen(nats.nc, ws);
    await nats.nc.flush();
    const secret = newWebhookSecret();
    const audit = { caller: "ops", actor: "ann", note: "first secret" };

    const broken = deps({ audits: { record: failing }, announce: failing });
    const secrets = await setWebhookSecret(broken, ws, secret, audit);
    const next = newWebhookSecret();
    const rotated = await rotateWebhookSecret(broken, ws, next, 0, { ...audit, note: "rotation" });

    expect(secrets.map((info) => info.fingerprint)).toEqual([secretFingerprint(secret)]);
    expect(rotated.map((info) => info.fingerprint)).toEqual([secretFingerprint(next)]);
    expect((await new WorkspaceRepository(db).find(ws))?.secrets).toHaveLength(1);
    expect(await new AuditRepository(db).list(ws, undefined, 10)).toEqual([]);
    expect(heard.count).toBe(0);

    expect(await sweepSecretOutbox(deps())).toBe(2);
    await waitFor(() => heard.count === 1, { what: "the announcement" });
    const entries = await new AuditRepository(db).list(ws, undefined, 10);
    expect(entries.map(({ action, note, target }) => [action, note, target])).toEqual([
      ["rotate_webhook_secret", "rotation", secretFingerprint(next)],
      ["set_webhook_secret", "first secret", secretFingerprint(secret)],
    ]);
    expect(entries[1]).toMatchObject({ workspaceId: ws, service: "webhook-gateway", caller: "ops", actor: "ann" });
    await sweepSecretOutbox(deps());
    expect(await new AuditRepository(db).list(ws, undefined, 10)).toHaveLength(2);
    expect((await new WorkspaceRepository(db).pendingOutboxes(1000)).map((pending) => pending.workspaceId)).not.toContain(ws);
    expect(logs.join("\n")).not.toContain(secret.slice(6));
  });

  it("is an error, with no audit entry and no announcement, when the change could not be stored", async () => {
    const ws = uniqueName("ws");
    const heard = listen(nats.nc, ws);
    const repository = new WorkspaceRepository(db);
    repository.save = failing;
    await expect(setWebhookSecret(deps({ repository }), ws, newWebhookSecret(), { caller: "ops", actor: "", note: "" })).rejects.toThrow("unavailable");
    await sweepSecretOutbox(deps());
    await nats.nc.flush();
    expect(heard.count).toBe(0);
    expect(await new AuditRepository(db).list(ws, undefined, 10)).toEqual([]);
  });

  it("announces and records, exactly once, a change whose process died between the save and the publish", async () => {
    const ws = uniqueName("ws");
    // What a crash right after the save leaves behind: the secrets and their outbox entry, nothing else.
    const entry: AuditRecord = { id: "crashed-change", workspaceId: ws, service: "webhook-gateway", action: "set_webhook_secret", caller: "ops", actor: "ann", note: "", target: "abcd1234", atMs: Date.now() };
    const sealed = sealSecret(keys, ws, newWebhookSecret());
    await new WorkspaceRepository(db).save(ws, [{ sealed, fingerprint: "abcd1234", role: "current", createdAt: new Date() }], 0, new Date(), serialiseOutboxEntry(entry));
    const heard = listen(nats.nc, ws);
    await nats.nc.flush();

    // The restarted gateway's start-up sweep.
    const gateway = await startGateway(testBaseConfig({ natsUrl, mongoDatabase: database }));
    try {
      await waitFor(() => heard.count >= 1, { what: "the announcement after the restart" });
      const listed = await waitFor(async () => (await gateway.settings.listAuditEntries({ workspaceId: ws })).entries.at(0), { what: "the audit entry" });
      expect(listed).toMatchObject({ id: "crashed-change", caller: "ops", actor: "ann", target: "abcd1234" });
      const repository = new WorkspaceRepository(db);
      await waitFor(async () => !(await repository.pendingOutboxes(1000)).some((pending) => pending.workspaceId === ws), { what: "the outbox drained" });
      await sweepSecretOutbox(deps());
      expect((await gateway.settings.listAuditEntries({ workspaceId: ws })).entries).toHaveLength(1);
      expect(heard.count).toBe(1);
    } finally {
      await gateway.service.stop();
    }
  });

  it("keeps the entry of every one of several concurrent changes, and leaves the outbox empty", async () => {
    const ws = uniqueName("ws");
    await setWebhookSecret(deps(), ws, newWebhookSecret(), { caller: "ops", actor: "setup", note: "" });
    const rotations = Array.from({ length: 4 }, (_, i) =>
      rotateWebhookSecret(deps(), ws, newWebhookSecret(), 0, { caller: "ops", actor: `rotation ${i}`, note: "" }),
    );
    await Promise.all(rotations);
    const entries = await new AuditRepository(db).list(ws, undefined, 10);
    expect(entries.map((entry) => entry.actor).sort()).toEqual(["rotation 0", "rotation 1", "rotation 2", "rotation 3", "setup"]);
    expect((await new WorkspaceRepository(db).pendingOutboxes(1000)).map((pending) => pending.workspaceId)).not.toContain(ws);
  });
});
