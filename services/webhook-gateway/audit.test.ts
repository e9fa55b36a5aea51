/**
 * The audit trail end to end: webhook-secret changes, RecordSend and manual
 * suppression changes, each made with its own service's named token, kept by
 * the settings service and listed with ListAuditEntries.
 */
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { toJsonString } from "@bufbuild/protobuf";
import type { DescService } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { AuditAction, AuditEntrySchema, type AuditEntry } from "../../gen/ngsreach/events/v1/audit_pb.ts";
import { SuppressionService } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { newWebhookSecret } from "../../cli/sign.ts";
import { privateNats, testBaseConfig, testSecretsKey, uniqueName, waitFor } from "../../test/harness.ts";
import { deliveryStatusService } from "../delivery-status/service.ts";
import { encodeAuditEntry, type AuditRecord } from "../shared/audit.ts";
import { DEAD_LETTERS_STREAM } from "../shared/nats.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { suppressionService } from "../suppression/service.ts";
import { gatewayService, loadGatewaySettings } from "./service.ts";
import { auditConsumerName } from "./workspace/audit-consumer.ts";
import { secretFingerprint } from "./workspace/secret-box.ts";

const tokens = { ops: "ops-token-0123456789abcdef", billing: "billing-token-0123456789", crm: "crm-token-0123456789abcd" };
const internalToken = Object.entries(tokens).map(([name, token]) => `${name}:${token}`).join(",");

describe("the audit trail", () => {
  const services: RunningService[] = [];
  let gateway: RunningService;
  let settings: Client<typeof WorkspaceSettingsService>;
  const ws = uniqueName("ws");
  const secret = newWebhookSecret();

  function clientOf<S extends DescService>(service: S, running: RunningService, token: string): Client<S> {
    const transport = createGrpcTransport({
      baseUrl: `http://127.0.0.1:${running.port}`,
      interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))],
    });
    return createClient(service, transport);
  }
  const codeOf = (call: Promise<unknown>) =>
    call.then(() => "ok", (error: unknown) => `${Code[ConnectError.from(error).code]}: ${ConnectError.from(error).rawMessage}`);
  const listAll = async (workspaceId: string) => (await settings.listAuditEntries({ workspaceId, pageSize: 500 })).entries;

  beforeAll(async () => {
    const natsUrl = (await privateNats()).url;
    // Each service with its own database, as deployed: the entries reach the gateway only as events.
    const config = () => testBaseConfig({ natsUrl, internalToken });
    gateway = await startService(gatewayService(loadGatewaySettings({ GATEWAY_PORT: "0", SECRETS_KEY: testSecretsKey })), config());
    services.push(gateway);
    const delivery = await startService(deliveryStatusService({ port: 0, outboxSweepMs: 1000 }), config());
    services.push(delivery);
    const suppression = await startService(suppressionService({ port: 0 }), config());
    services.push(suppression);
    settings = clientOf(WorkspaceSettingsService, gateway, tokens.ops);

    await settings.setWebhookSecret({ workspaceId: ws, secret, actor: "ann", note: "onboarding" });
    await clientOf(DeliveryStatusService, delivery, tokens.billing).recordSend({
      workspaceId: ws,
      emailId: "email-1",
      campaignId: "camp",
      subscriberId: "sub_1",
      recipient: "Ann.Private@Example.com",
    });
    const crm = clientOf(SuppressionService, suppression, tokens.crm);
    await crm.addSuppression({ workspaceId: ws, email: " Bob@Example.COM", actor: "support", note: "asked by phone" });
    await crm.removeSuppression({ workspaceId: ws, email: "Bob@example.com", actor: "support", note: "resubscribed" });
    await crm.removeSuppression({ workspaceId: ws, email: "nobody@example.com", actor: "support", note: "nothing to lift" });
  });
  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
  });

  it("names, for every change through every service, the caller's token, who asked, why and what", async () => {
    const entries = await waitFor(async () => {
      const listed = await listAll(ws);
      return listed.length >= 4 ? listed : undefined;
    }, { what: "four audit entries" });
    const rows = entries.map((entry) => [entry.service, entry.action, entry.caller, entry.actor, entry.note, entry.target]);
    expect(rows).toHaveLength(4); // the removal that lifted nothing is not a change
    expect(rows).toEqual(
      expect.arrayContaining([
        ["webhook-gateway", AuditAction.SET_WEBHOOK_SECRET, "ops", "ann", "onboarding", secretFingerprint(secret)],
        ["delivery-status", AuditAction.RECORD_SEND, "billing", "", "", "email-1"],
        ["suppression", AuditAction.ADD_SUPPRESSION, "crm", "support", "asked by phone", "Bob@example.com"],
        ["suppression", AuditAction.REMOVE_SUPPRESSION, "crm", "support", "resubscribed", "Bob@example.com"],
      ]),
    );
    const times = entries.map((entry) => timestampDate(entry.time!).getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a)); // newest first
    const everything = entries.map((entry) => toJsonString(AuditEntrySchema, entry)).join("\n").toLowerCase();
    expect(everything).not.toContain("ann.private"); // RecordSend's recipient stays out of the audit
    expect(everything).not.toContain(secret.slice(6).toLowerCase());
    expect(await listAll(uniqueName("other"))).toEqual([]);
  });

  it("pages newest first with an opaque token and refuses a tampered one, a negative size or no workspace", async () => {
    const all = await waitFor(async () => ((await listAll(ws)).length >= 4 ? await listAll(ws) : undefined), { what: "the entries" });
    const first = await settings.listAuditEntries({ workspaceId: ws, pageSize: 3 });
    expect(first.entries).toHaveLength(3);
    const second = await settings.listAuditEntries({ workspaceId: ws, pageSize: 3, pageToken: first.nextPageToken });
    expect(second.nextPageToken).toBe("");
    expect([...first.entries, ...second.entries].map((entry) => entry.id)).toEqual(all.map((entry) => entry.id));

    const tampered = first.nextPageToken.slice(0, -1) + (first.nextPageToken.endsWith("A") ? "B" : "A");
    expect(await codeOf(settings.listAuditEntries({ workspaceId: ws, pageToken: tampered }))).toMatch(/^InvalidArgument: page_token/);
    expect(await codeOf(settings.listAuditEntries({ workspaceId: uniqueName("other"), pageToken: first.nextPageToken }))).toMatch(/^InvalidArgument: page_token/);
    expect(await codeOf(settings.listAuditEntries({ workspaceId: ws, pageSize: -1 }))).toMatch(/^InvalidArgument: page_size/);
    expect(await codeOf(settings.listAuditEntries({ workspaceId: "" }))).toMatch(/^InvalidArgument: workspace_id/);
    expect(await codeOf(clientOf(WorkspaceSettingsService, gateway, "not-a-token-0123456789").listAuditEntries({ workspaceId: ws }))).toMatch(/^Unauthenticated/);
  });

  it("keeps an entry published twice once, and dead-letters one published on another workspace's subject", async () => {
    const target = uniqueName("ws");
    const entry: AuditRecord = { id: uniqueName("entry"), workspaceId: target, service: "suppression", action: "add_suppression", caller: "crm", actor: "", note: "", target: "x@example.com", atMs: Date.now() };
    const { js, jsm } = gateway.context.nats;
    // No message id: as if the second copy arrived after the duplicate window.
    await js.publish(`audit.${target}.suppression`, encodeAuditEntry(entry));
    await js.publish(`audit.${target}.suppression`, encodeAuditEntry(entry));
    const elsewhere = uniqueName("ws");
    await js.publish(`audit.${elsewhere}.suppression`, encodeAuditEntry({ ...entry, id: uniqueName("entry") }));
    await waitFor(async () => {
      const info = await jsm.streams.info(DEAD_LETTERS_STREAM, { subjects_filter: `dead.${auditConsumerName}` });
      return Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0) === 1;
    }, { what: "the misaddressed entry dead-lettered" });
    await waitFor(async () => {
      const info = await jsm.consumers.info("DOMAIN_EVENTS", auditConsumerName);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    }, { what: "the audit consumer idle" });
    expect((await listAll(target)).map((listed: AuditEntry) => listed.id)).toEqual([entry.id]);
    expect(await listAll(elsewhere)).toEqual([]);
  });
});
