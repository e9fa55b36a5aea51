import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { privateFerretDb, privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { publishResendEvent } from "../../test/publish-events.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { deliveryStatusService } from "./service.ts";

describe("the delivery status service when the database stops mid-stream", () => {
  let service: RunningService | undefined;
  afterAll(async () => service?.stop());

  it("does not ack while the database is down and applies every event exactly once after it returns", async () => {
    const [nats, ferret] = await Promise.all([privateNats(), privateFerretDb()]);
    service = await startService(deliveryStatusService({ port: 0, outboxSweepMs: 60_000 }), testBaseConfig({ natsUrl: nats.url, mongoUri: ferret.url }));
    const api = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
    const js = service.context.nats.js;
    const ws = uniqueName("ws");
    const opens = 30;
    const publishOpen = (i: number) =>
      publishResendEvent(js, ws, sampleEmailEvent("email.opened", { emailId: "down1", createdAt: new Date(Date.UTC(2026, 10, 20, 10, 0, i)) }), {
        svixId: `msg_open_${i}`,
      });

    for (let i = 0; i < 10; i++) await publishOpen(i);
    await ferret.stop();
    const duringOutage: { seq: number }[] = [];
    for (let i = 10; i < 20; i++) duringOutage.push(await publishOpen(i)); // arrive while the database is down
    // The consumer receives them and acks none: the ack floor stays below the first one.
    const consumerInfo = () => service!.context.nats.jsm.consumers.info("RESEND_EVENTS", "delivery-status");
    await waitFor(async () => (await consumerInfo()).delivered.stream_seq >= duringOutage.at(-1)!.seq, { what: "the outage's messages delivered" });
    expect((await consumerInfo()).ack_floor.stream_seq).toBeLessThan(duringOutage[0]!.seq);
    // A copy of an already-published event, as a later Svix retry would bring it.
    await publishResendEvent(js, ws, sampleEmailEvent("email.opened", { emailId: "down1", createdAt: new Date(Date.UTC(2026, 10, 20, 10, 0, 3)) }), {
      svixId: "msg_open_3",
      useMsgId: false,
    });
    await ferret.restart();
    for (let i = 20; i < opens; i++) await publishOpen(i);

    const send = await waitFor(async () => {
      const current = (await api.getSend({ workspaceId: ws, emailId: "down1" })).send!;
      return current.openCount === opens ? current : undefined;
    }, { timeoutMs: 45_000, what: `${opens} opens applied` });
    expect(send.openCount).toBe(opens);
    const timeline = await api.listSendEvents({ workspaceId: ws, emailId: "down1", pageSize: 100 });
    expect(timeline.events.map((event) => event.svixId).sort()).toEqual(Array.from({ length: opens }, (_, i) => `msg_open_${i}`).sort());
    await waitFor(async () => (await service!.context.nats.jsm.consumers.info("RESEND_EVENTS", "delivery-status")).num_ack_pending === 0);
    expect((await api.getSend({ workspaceId: ws, emailId: "down1" })).send!.openCount).toBe(opens);
  });
});
