/**
 * The gateway's part of an erasure end to end: an ErasureRequested on `erasure.<ws>.requested` leaves no
 * erased address in the audit log ListAuditEntries shows, and is answered with ErasureApplied.
 */
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErasureRequestedSchema, type ErasureApplied } from "../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { AuditEntrySchema } from "../../gen/ngsreach/events/v1/audit_pb.ts";
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { privateNats, testBaseConfig, testSecretsKey, uniqueName, waitFor } from "../../test/harness.ts";
import { encodeAuditEntry, type AuditRecord } from "../shared/audit.ts";
import type { BaseConfig } from "../shared/config.ts";
import { decodeErasureApplied, erasureAppliedSubject, erasureRequestedMessageId, erasureRequestedSubject } from "../shared/erasure-events.ts";
import { connectMongo } from "../shared/mongo.ts";
import { createLogger } from "../shared/log.ts";
import { connectNats, DOMAIN_EVENTS_STREAM } from "../shared/nats.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { gatewayService, loadGatewaySettings } from "./service.ts";
import { auditConsumerName } from "./workspace/audit-consumer.ts";
import { AuditRepository } from "./workspace/audit-repository.ts";
import { eraseAuditTargets } from "./workspace/erase-audit-targets.ts";

const token = "ops-token-0123456789abcdef";
const bob = "Bob.Smith@example.com";

describe("erasing a subscriber from the gateway's audit log", () => {
  let config: BaseConfig;
  let gateway: RunningService | undefined;
  let settings: Client<typeof WorkspaceSettingsService>;

  const start = async () => {
    gateway = await startService(gatewayService(loadGatewaySettings({ GATEWAY_PORT: "0", SECRETS_KEY: testSecretsKey })), config);
    const transport = createGrpcTransport({
      baseUrl: `http://127.0.0.1:${gateway.port}`,
      interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))],
    });
    settings = createClient(WorkspaceSettingsService, transport);
  };
  const nats = () => gateway!.context.nats;

  beforeAll(async () => {
    config = testBaseConfig({ natsUrl: (await privateNats()).url, internalToken: `ops:${token}` });
    await start();
  });
  afterAll(async () => gateway?.stop());

  const entry = (workspaceId: string, fields: Partial<AuditRecord>): AuditRecord => ({
    id: uniqueName("entry"),
    workspaceId,
    service: "suppression",
    action: "add_suppression",
    caller: "crm",
    actor: "support",
    note: "",
    target: bob,
    atMs: Date.now(),
    ...fields,
  });
  const publishEntry = async (record: AuditRecord) => (await nats().js.publish(`audit.${record.workspaceId}.${record.service}`, encodeAuditEntry(record))).seq;
  const listAll = async (workspaceId: string) => (await settings.listAuditEntries({ workspaceId, pageSize: 500 })).entries;
  const listedOnce = (workspaceId: string, count: number) =>
    waitFor(async () => ((await listAll(workspaceId)).length >= count ? await listAll(workspaceId) : undefined), { what: `${count} audit entries` });
  const requestErasure = async (workspaceId: string, erasureId: string, emails = [bob], msgID: string | undefined = erasureRequestedMessageId(erasureId)) => {
    const request = create(ErasureRequestedSchema, { workspaceId, erasureId, emails, requestedTime: timestampNow() });
    return (await nats().js.publish(erasureRequestedSubject(workspaceId), toBinary(ErasureRequestedSchema, request), msgID ? { msgID } : {})).seq;
  };
  const answered = (workspaceId: string): Promise<ErasureApplied> =>
    waitFor(async () => {
      const stored = await nats().jsm.streams.getMessage(DOMAIN_EVENTS_STREAM, { last_by_subj: erasureAppliedSubject(workspaceId) });
      return stored ? decodeErasureApplied(stored.data, stored.subject) : undefined;
    }, { what: "the ErasureApplied" });
  const idle = (consumer: string, pastSequence: number) =>
    waitFor(async () => {
      const info = await nats().jsm.consumers.info(DOMAIN_EVENTS_STREAM, consumer);
      return info.ack_floor.stream_seq >= pastSequence && info.num_pending === 0 && info.num_ack_pending === 0;
    }, { what: `${consumer} past ${pastSequence}` });
  const rows = (listed: Awaited<ReturnType<typeof listAll>>) => listed.map((e) => [e.id, e.target, e.note]);
  const namesBob = (listed: Awaited<ReturnType<typeof listAll>>) =>
    /(?<![a-z.])bob\.smith@example\.com(?!\.[a-z])/i.test(listed.map((e) => toJsonString(AuditEntrySchema, e)).join("\n"));

  const ws = uniqueName("ws");
  const erasureId = uniqueName("erasure");

  it("replaces the address in every entry naming it, keeps other addresses and workspaces, and answers", async () => {
    const other = uniqueName("ws");
    const named = [
      entry(ws, { note: `asked by phone from ${bob.toUpperCase()}` }),
      entry(ws, { action: "remove_suppression", target: " Bob.Smith@EXAMPLE.com ", note: "resubscribed, ticket 42" }),
    ];
    const noteOnly = entry(ws, { target: "ann@example.com", note: `same person as ${bob}` });
    const untouched = [
      entry(ws, { target: "ann@example.com", note: "asked by mail" }),
      entry(ws, { target: `jim.${bob}`, note: `not ${bob}.au` }),
      entry(ws, { service: "delivery-status", action: "record_send", caller: "billing", actor: "", target: "email-1" }),
    ];
    const elsewhere = entry(other, { note: bob });
    for (const record of [...named, noteOnly, ...untouched, elsewhere]) await publishEntry(record);
    const before = await listedOnce(ws, 6);
    await listedOnce(other, 1);

    await requestErasure(ws, erasureId);
    const applied = await answered(ws);
    expect([applied.service, applied.erasureId, applied.documents]).toEqual(["webhook-gateway", erasureId, 3]);

    const after = await listAll(ws);
    expect(namesBob(after)).toBe(false);
    const byId = new Map(rows(after).map((row) => [row[0], row]));
    for (const record of named) expect(byId.get(record.id)).toEqual([record.id, `erased:${erasureId}`, ""]);
    expect(byId.get(noteOnly.id)).toEqual([noteOnly.id, "ann@example.com", ""]);
    for (const record of untouched) expect(byId.get(record.id)).toEqual([record.id, record.target, record.note]);
    expect(after.map((e) => [e.id, e.service, e.action, e.caller, e.actor, e.time])).toEqual(before.map((e) => [e.id, e.service, e.action, e.caller, e.actor, e.time]));
    expect(rows(await listAll(other))).toEqual([[elsewhere.id, bob, bob]]);
  });

  it("changes nothing when the request is delivered again", async () => {
    const before = rows(await listAll(ws));
    // No message id: as if the copy arrived after the duplicate window.
    const seq = await requestErasure(ws, erasureId, [bob], undefined);
    await idle("webhook-gateway-erasures", seq);
    expect(rows(await listAll(ws))).toEqual(before);
    const mongo = await connectMongo(config.mongoUri, config.mongoDatabase, "erase-audit-test");
    try {
      const again = await eraseAuditTargets({ audits: new AuditRepository(mongo.db), auditsStoredThroughRequest: async () => true }, create(ErasureRequestedSchema, { workspaceId: ws, erasureId, emails: [bob] }));
      expect(again).toBe(0);
    } finally {
      await mongo.close();
    }
  });

  it("also erases an entry published before the request that the audit consumer stores after it", async () => {
    const late = uniqueName("ws");
    const { jsm } = nats();
    await jsm.consumers.pause(DOMAIN_EVENTS_STREAM, auditConsumerName, new Date(Date.now() + 1500));
    const record = entry(late, {});
    await publishEntry(record);
    await requestErasure(late, uniqueName("erasure"));
    const applied = await answered(late);
    expect(applied.documents).toBe(1);
    expect(rows(await listAll(late))).toEqual([[record.id, expect.stringMatching(/^erased:/), ""]]);
  });

  it("applies a request published while the gateway was down once it is back", async () => {
    const down = uniqueName("ws");
    const record = entry(down, {});
    await publishEntry(record);
    await listedOnce(down, 1);
    await gateway!.stop();
    gateway = undefined;
    const publisher = await connectNats(config.natsUrl, "erase-audit-test", createLogger({}, "error"));
    try {
      const request = create(ErasureRequestedSchema, { workspaceId: down, erasureId: uniqueName("erasure"), emails: [bob], requestedTime: timestampNow() });
      await publisher.js.publish(erasureRequestedSubject(down), toBinary(ErasureRequestedSchema, request));
    } finally {
      await publisher.nc.close();
    }
    await start();
    expect((await answered(down)).documents).toBe(1);
    expect(namesBob(await listAll(down))).toBe(false);
  });
});
