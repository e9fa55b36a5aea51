import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatusService, SendStatus, type Send, type SendEvent } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import type { EmailEventType, SampleOptions } from "../../cli/resend-samples.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { emailEnvelope, publishEnvelope } from "../../test/support/provider-envelopes.ts";
import { reconstructedEvent } from "../shared/reconstructed-events.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { consumerName } from "./consumer.ts";
import { deliveryStatusService } from "./service.ts";

// The email was sent at t0 (what a reconstructed event's time says); the run observed it an hour later.
const t0 = Date.parse("2026-11-20T10:00:00.000Z");
const observedAtMs = t0 + 3_600_000;
const at = (seconds: number) => new Date(t0 + seconds * 1000);
const hardBounce = { type: "Permanent", subType: "General", message: "The recipient's mailbox does not exist" };

describe("reconstructed events in delivery status, end to end through JetStream", () => {
  let service: RunningService;
  let api: Client<typeof DeliveryStatusService>;

  beforeAll(async () => {
    const nats = await privateNats();
    service = await startService(deliveryStatusService({ port: 0, outboxSweepMs: 1000 }), testBaseConfig({ natsUrl: nats.url }));
    api = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
  });
  afterAll(async () => {
    await service?.stop();
  });

  const js = () => service.context.nats.js;
  // useMsgId false everywhere: as if every copy came after JetStream's duplicate window, so only the consumer dedupes.
  const publishReconstructed = (ws: string, emailId: string, type: EmailEventType, bounce?: typeof hardBounce) =>
    publishEnvelope(
      js(),
      reconstructedEvent({ workspaceId: ws, emailId, type, sentAtMs: t0, observedAtMs, reconciliationId: "run-1", to: ["ann@example.com"], bounce }),
      { useMsgId: false },
    );
  const publishReal = (ws: string, emailId: string, svixId: string, type: EmailEventType, seconds: number, options: SampleOptions = {}) =>
    publishEnvelope(js(), emailEnvelope("resend", ws, type, { eventId: svixId, messageId: emailId }, { createdAt: at(seconds), to: ["ann@example.com"], ...options }), {
      useMsgId: false,
    });
  const record = (ws: string, emailId: string) =>
    api.recordSend({ workspaceId: ws, emailId, campaignId: "camp", subscriberId: "sub", recipient: "ann@example.com", sentTime: timestampFromMs(t0) });
  const getSend = (ws: string, emailId: string) => api.getSend({ workspaceId: ws, emailId }).then((response) => response.send!);
  const timeline = async (ws: string, emailId: string) => (await api.listSendEvents({ workspaceId: ws, emailId, pageSize: 100 })).events;
  const drained = () =>
    waitFor(async () => {
      const info = await service.context.nats.jsm.consumers.info("RESEND_EVENTS", consumerName);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    }, { what: "every published event handled" });
  const typeAndMark = (event: SendEvent) => [event.type, event.reconstructed];
  /** A send's state without what differs between two sends (identity, registration and write times). */
  const stateOf = ({ emailId: _emailId, updatedTime: _updatedTime, recordedTime: _recordedTime, ...state }: Send) => state;

  const reconstructedClick = (ws: string, emailId: string) =>
    Promise.all((["email.delivered", "email.opened", "email.clicked"] as const).map((type) => publishReconstructed(ws, emailId, type)));
  const realHistory = async (ws: string, emailId: string) => {
    await publishReal(ws, emailId, `${emailId}_delivered`, "email.delivered", 10);
    await publishReal(ws, emailId, `${emailId}_open_1`, "email.opened", 20);
    await publishReal(ws, emailId, `${emailId}_open_2`, "email.opened", 25);
    await publishReal(ws, emailId, `${emailId}_click`, "email.clicked", 30, { click: { link: "https://example.com/a" } });
  };

  it("counts reconstructed events toward the status only, and once the real events arrive shows their times and counts, whatever the order", async () => {
    const ws = uniqueName("ws");
    await Promise.all([record(ws, "first_reconstructed"), record(ws, "first_real")]);

    await reconstructedClick(ws, "first_reconstructed");
    const reconstructedOnly = await waitFor(async () => {
      const send = await getSend(ws, "first_reconstructed");
      return send.status === SendStatus.CLICKED ? send : undefined;
    }, { what: "the reconstructed click" });
    expect([reconstructedOnly.openCount, reconstructedOnly.clickCount]).toEqual([0, 0]);
    expect(reconstructedOnly.deliveredTime).toEqual(timestampFromMs(t0)); // only the send time is known
    const marked = await timeline(ws, "first_reconstructed");
    expect(marked.map(typeAndMark).sort()).toEqual([
      ["email.clicked", true],
      ["email.delivered", true],
      ["email.opened", true],
    ]);
    expect(marked.every((event) => event.receivedTime?.seconds === timestampFromMs(observedAtMs).seconds)).toBe(true);
    expect(marked.every((event) => event.svixId.startsWith("reconciliation:first_reconstructed:"))).toBe(true);

    await realHistory(ws, "first_reconstructed");
    await realHistory(ws, "first_real");
    await waitFor(async () => (await getSend(ws, "first_real")).clickCount === 1, { what: "the real history of first_real" });
    await reconstructedClick(ws, "first_real");
    // Redeliveries of both kinds count nothing twice.
    await reconstructedClick(ws, "first_reconstructed");
    await publishReal(ws, "first_reconstructed", "first_reconstructed_open_1", "email.opened", 20);
    await drained();

    const afterReal = await getSend(ws, "first_reconstructed");
    expect(afterReal).toMatchObject({ status: SendStatus.CLICKED, openCount: 2, clickCount: 1 });
    expect(afterReal.deliveredTime).toEqual(timestampFromMs(t0 + 10_000));
    expect(afterReal.firstOpenedTime).toEqual(timestampFromMs(t0 + 20_000));
    expect(afterReal.firstClickedTime).toEqual(timestampFromMs(t0 + 30_000));
    expect(stateOf(await getSend(ws, "first_real"))).toEqual(stateOf(afterReal));

    for (const emailId of ["first_reconstructed", "first_real"]) {
      const events = (await timeline(ws, emailId)).map(typeAndMark);
      // The reconstructed ones first (all at the send time, among themselves by svix id), then the real ones in event-time order.
      expect([...events.slice(0, 3).sort(), ...events.slice(3)]).toEqual([
        ["email.clicked", true],
        ["email.delivered", true],
        ["email.opened", true],
        ["email.delivered", false],
        ["email.opened", false],
        ["email.opened", false],
        ["email.clicked", false],
      ]);
    }
  });

  it("ends bounced with the reconstructed bounce's detail when the bounce is reconstructed after a real delivery", async () => {
    const ws = uniqueName("ws");
    await record(ws, "bounced");
    await publishReal(ws, "bounced", "bounced_delivered", "email.delivered", 10);
    await waitFor(async () => (await getSend(ws, "bounced")).status === SendStatus.DELIVERED, { what: "the real delivery" });
    await publishReconstructed(ws, "bounced", "email.bounced", hardBounce);
    const send = await waitFor(async () => {
      const found = await getSend(ws, "bounced");
      return found.status === SendStatus.BOUNCED ? found : undefined;
    }, { what: "the reconstructed bounce" });
    expect(send.bounce).toMatchObject(hardBounce);
    expect(send.bouncedTime).toEqual(timestampFromMs(t0));
    expect(send.deliveredTime).toEqual(timestampFromMs(t0 + 10_000));
    expect(send.softBounceCount).toBe(0);
    const bounceEntry = (await timeline(ws, "bounced")).find((event) => event.type === "email.bounced")!;
    expect(bounceEntry.reconstructed).toBe(true);
    expect(bounceEntry.detail).toMatchObject({ case: "bounce", value: hardBounce });
  });
});
