/**
 * ListSubscriberSends against a started delivery status (real NATS and database, INTERNAL_TOKEN set):
 * whose sends it streams, in what order, how a long timeline is split, and what it refuses.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DeliveryStatusService,
  type ListSubscriberSendsRequestSchema,
  type ListSubscriberSendsResponse,
} from "../../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { privateNats, testBaseConfig, uniqueName } from "../../../test/harness.ts";
import { startService, type RunningService } from "../../shared/service-host.ts";
import type { EventFact } from "../send-projection.ts";
import { SendsRepository } from "../sends-repository.ts";
import { deliveryStatusService } from "../service.ts";
import { applyEvents, type IncomingEvent } from "../use-cases/apply-event.ts";

const token = "list-subscriber-sends-token";
let service: RunningService;
let api: Client<typeof DeliveryStatusService>;
let anonymous: Client<typeof DeliveryStatusService>;

beforeAll(async () => {
  service = await startService(deliveryStatusService({ port: 0, outboxSweepMs: 1000 }), testBaseConfig({ natsUrl: (await privateNats()).url, internalToken: token }));
  const baseUrl = `http://127.0.0.1:${service.port}`;
  api = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl, interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))] }));
  anonymous = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl }));
});
afterAll(async () => {
  await service?.stop();
});

type Request = MessageInitShape<typeof ListSubscriberSendsRequestSchema>;

async function streamed(request: Request, client = api): Promise<ListSubscriberSendsResponse[]> {
  const messages: ListSubscriberSendsResponse[] = [];
  for await (const message of client.listSubscriberSends(request)) messages.push(message);
  return messages;
}

const refusal = (request: Request, client = api) =>
  streamed(request, client).then(
    () => "ok",
    (error: unknown) => `${Code[ConnectError.from(error).code]}: ${ConnectError.from(error).rawMessage}`,
  );

/** `count` opens of a send applied as the consumer applies them, each fact with `extra`. */
async function applyOpens(workspaceId: string, emailId: string, count: number, extra: Partial<EventFact> = {}): Promise<void> {
  const deps = { repo: new SendsRepository(service.context.mongo.db), notify: () => {}, now: Date.now };
  const startUs = Date.parse("2026-11-20T10:00:00Z") * 1000;
  const events: IncomingEvent[] = Array.from({ length: count }, (_, i) => {
    const svixId = `msg_${emailId}_${String(i).padStart(5, "0")}`;
    const atUs = startUs + i * 1_000_000;
    return {
      workspaceId,
      emailId,
      fact: { svixId, kind: "opened", atUs, ...extra },
      timeline: { workspaceId, emailId, svixId, type: "email.opened", eventAtUs: atUs, receivedAtUs: atUs },
    };
  });
  // In batches as the consumer takes them, so the send retires facts onto timeline pages on the way.
  for (let i = 0; i < events.length; i += 150) await applyEvents(deps, events.slice(i, i + 150));
}

const record = (workspaceId: string, emailId: string, subscriberId: string, recipient: string) =>
  api.recordSend({ workspaceId, emailId, campaignId: "c1", subscriberId, recipient });

describe("ListSubscriberSends", () => {
  it("streams an address's sends in email id order, the address compared normalised, and a long timeline in slices of 500", async () => {
    const ws = uniqueName("ws");
    await record(ws, "e-3", "sub-ann", "Ann@example.com");
    await record(ws, "e-1", "sub-ann", "  Ann@EXAMPLE.com ");
    await record(ws, "e-2", "sub-other", "ann@example.com"); // another local part: another address
    await record(ws, "e-4", "sub-bob", "bob@example.com");
    await record(uniqueName("ws"), "e-5", "sub-ann", "Ann@example.com");
    await applyOpens(ws, "e-3", 620);
    await applyOpens(ws, "e-1", 2);

    const messages = await streamed({ workspaceId: ws, subscriber: { case: "recipient", value: " Ann@Example.COM" } });
    expect(messages.map(({ send }) => [send!.send!.emailId, send!.events.length])).toEqual([
      ["e-1", 2],
      ["e-3", 500],
      ["e-3", 120],
    ]);
    const e3 = messages.slice(1).flatMap(({ send }) => send!.events.map((event) => event.svixId));
    expect(e3).toEqual(Array.from({ length: 620 }, (_, i) => `msg_e-3_${String(i).padStart(5, "0")}`));
    expect(messages.slice(1).map(({ send }) => send!.send!.openCount)).toEqual([620, 620]);
  });

  it("streams a subscriber id's sends, those attributed only by the tag included, a send without events in one message", async () => {
    const ws = uniqueName("ws");
    await record(ws, "s-2", "sub-ann", "ann@example.com");
    await record(ws, "s-3", "sub-ann", "ann.work@example.com");
    await record(ws, "s-4", "sub-bob", "bob@example.com");
    await applyOpens(ws, "s-1", 1, { subscriberTag: "sub-ann" });
    await applyOpens(ws, "s-3", 3);

    const messages = await streamed({ workspaceId: ws, subscriber: { case: "subscriberId", value: "sub-ann" } });
    expect(messages.map(({ send }) => [send!.send!.emailId, send!.send!.attributed, send!.events.length])).toEqual([
      ["s-1", false, 1],
      ["s-2", true, 0],
      ["s-3", true, 3],
    ]);
  });

  it("refuses a request without a workspace, with neither or an empty subscriber, a recipient that is no address, and a caller without the token", async () => {
    expect(await refusal({ subscriber: { case: "subscriberId", value: "sub-ann" } })).toBe("InvalidArgument: workspace_id: required");
    expect(await refusal({ workspaceId: "ws" })).toBe("InvalidArgument: recipient or subscriber_id: exactly one must be set");
    expect(await refusal({ workspaceId: "ws", subscriber: { case: "recipient", value: "not-an-address" } })).toBe("InvalidArgument: recipient: must be an email address");
    expect(await refusal({ workspaceId: "ws", subscriber: { case: "recipient", value: "" } })).toBe("InvalidArgument: recipient: required");
    expect(await refusal({ workspaceId: "ws", subscriber: { case: "subscriberId", value: "" } })).toBe("InvalidArgument: subscriber_id: required");
    expect(await refusal({ workspaceId: "ws", subscriber: { case: "subscriberId", value: "sub-ann" } }, anonymous)).toMatch(/^Unauthenticated: /);
    expect(await refusal({ workspaceId: "ws", subscriber: { case: "subscriberId", value: "sub-ann" } })).toBe("ok");
  });
});
