import { MongoClient, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../../test/harness.ts";
import { AuditRepository } from "./audit-repository.ts";

describe("the gateway's audit store", () => {
  let client: MongoClient;
  let db: Db;

  beforeAll(async () => {
    client = await new MongoClient(shared.mongoUri, { retryWrites: false }).connect();
    db = client.db(uniqueName("gateway_audit"));
  });
  afterAll(async () => client?.close());

  it("moves the secret audit entries written before callers were recorded, losing none, also when run twice", async () => {
    const ws = uniqueName("ws");
    const legacy = db.collection("gateway_secret_audit");
    await legacy.insertMany([
      { workspaceId: ws, action: "set", actor: "ann", note: "first", fingerprints: ["aaaa1111"], at: new Date(1_000) },
      { workspaceId: ws, action: "rotate", actor: "bob", note: "", fingerprints: ["bbbb2222", "aaaa1111"], at: new Date(2_000) },
      { workspaceId: uniqueName("other"), action: "remove", actor: "cy", note: "", fingerprints: [], at: new Date(3_000) },
    ]);
    const audits = new AuditRepository(db);
    expect(await audits.importLegacy(2)).toBe(3);
    expect(await audits.importLegacy()).toBe(0);
    expect(await legacy.countDocuments()).toBe(0);
    const entries = await audits.list(ws, undefined, 10);
    expect(entries.map(({ action, caller, actor, note, target, atMs, service }) => [service, action, caller, actor, note, target, atMs])).toEqual([
      ["webhook-gateway", "rotate_webhook_secret", "", "bob", "", "bbbb2222,aaaa1111", 2_000],
      ["webhook-gateway", "set_webhook_secret", "", "ann", "first", "aaaa1111", 1_000],
    ]);
  });

  it("keeps an entry recorded twice once, and pages a workspace's entries newest first across equal times", async () => {
    const ws = uniqueName("ws");
    const audits = new AuditRepository(db);
    const entry = (id: string, atMs: number) => ({ id, workspaceId: ws, service: "suppression", action: "add_suppression" as const, caller: "crm", actor: "", note: "", target: "a@x.com", atMs });
    for (const [id, atMs] of [["e1", 1_000], ["e2", 2_000], ["e3", 2_000], ["e4", 3_000]] as const) await audits.record(entry(id, atMs));
    await audits.record(entry("e2", 2_000));
    await audits.record({ ...entry("e5", 4_000), workspaceId: uniqueName("other") });
    const first = await audits.list(ws, undefined, 2);
    const rest = await audits.list(ws, [first[1]!.atMs, first[1]!.id], 10);
    expect([...first, ...rest].map((listed) => listed.id)).toEqual(["e4", "e3", "e2", "e1"]);
  });
});
