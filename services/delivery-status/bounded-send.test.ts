/** One send with hundreds of events, end to end through JetStream and the consumer, against the real database. */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { BSON, MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatusService, SendStatus } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { sampleEmailEvent, type EmailEventType } from "../../cli/resend-samples.ts";
import { privateNats, shared, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { publishResendEvent } from "../../test/publish-events.ts";
import { RESEND_EVENTS_STREAM } from "../shared/nats.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { consumerName } from "./consumer.ts";
import { keptFactsLimit } from "./send-retirement.ts";
import { deliveryStatusService } from "./service.ts";

const t0 = Date.parse("2026-11-20T10:00:00.000Z");
const openSvix = (i: number) => `svix_open_${String(i).padStart(5, "0")}`;

describe("a send opened hundreds of times, through the delivery status consumer", () => {
  let service: RunningService;
  let api: Client<typeof DeliveryStatusService>;
  let client: MongoClient;
  const config = testBaseConfig();

  beforeAll(async () => {
    const nats = await privateNats();
    service = await startService(deliveryStatusService({ port: 0, outboxSweepMs: 30_000 }), { ...config, natsUrl: nats.url });
    api = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
    client = await new MongoClient(shared.mongoUri).connect();
  });
  afterAll(async () => {
    await service?.stop();
    await client?.db(config.mongoDatabase).dropDatabase().catch(() => {});
    await client?.close();
  });

  const publish = (ws: string, type: EmailEventType, seconds: number, svixId: string) =>
    publishResendEvent(service.context.nats.js, ws, sampleEmailEvent(type, { emailId: "proxy", createdAt: new Date(t0 + seconds * 1000), to: ["ann@example.com"] }), {
      svixId,
      useMsgId: false, // retries after the duplicate window: only the consumer's own dedupe can tell
    });
  const drained = async () => {
    const info = await service.context.nats.jsm.consumers.info(RESEND_EVENTS_STREAM, consumerName);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  };

  it("keeps its document bounded, counts every open once however often Resend retries it, and lists every event", { timeout: 120_000 }, async () => {
    const ws = uniqueName("ws");
    const opens = 300;
    await publish(ws, "email.delivered", 0, "svix_delivered");
    for (let i = 0; i < opens; i++) await publish(ws, "email.opened", 10 + i, openSvix(i));
    await waitFor(async () => (await api.getSend({ workspaceId: ws, emailId: "proxy" })).send?.openCount === opens, { timeoutMs: 90_000, what: `${opens} opens` });

    // Retries of opens retired long ago and of recent ones, then one new event.
    for (const i of [0, 57, 123, opens - 1]) await publish(ws, "email.opened", 10 + i, openSvix(i));
    await publish(ws, "email.clicked", 1000, "svix_click");
    await waitFor(drained, { timeoutMs: 60_000, what: "the consumer to drain" });
    const send = (await api.getSend({ workspaceId: ws, emailId: "proxy" })).send!;
    expect([send.openCount, send.clickCount, send.status]).toEqual([opens, 1, SendStatus.CLICKED]);

    const doc = await client.db(config.mongoDatabase).collection("delivery_sends").findOne({ _id: `${ws}:proxy` as never });
    expect((doc!.facts as unknown[]).length).toBeLessThanOrEqual(keptFactsLimit);
    expect(BSON.calculateObjectSize(doc!)).toBeLessThan(32_000); // ~100 facts of ~200 B at most

    const listed: string[] = [];
    let pageToken = "";
    do {
      const page = await api.listSendEvents({ workspaceId: ws, emailId: "proxy", pageSize: 50, pageToken });
      listed.push(...page.events.map((event) => event.svixId));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(listed).toEqual(["svix_delivered", ...Array.from({ length: opens }, (_, i) => openSvix(i)), "svix_click"]);
  });
});
