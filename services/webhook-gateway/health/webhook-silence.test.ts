/**
 * Gap detection end to end: sends registered with RecordSend on a running delivery status, webhooks
 * posted to a running gateway (RECONCILE_SILENCE_MINUTES=0.05, 3 s). A workspace with a send and no
 * verified webhook after it turns silent — in GetWebhookHealth, `ngsreach health`, the metric, and one
 * WebhookSilence on DOMAIN_EVENTS — and a webhook ends it.
 */
import { fromBinary, create, toBinary } from "@bufbuild/protobuf";
import { timestampDate, timestampNow, type Timestamp } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatusService } from "../../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { SendRecordedSchema, WebhookSilenceSchema, type WebhookSilence } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { runCli } from "../../../cli/cli-test-kit.ts";
import { sampleEmailEvent } from "../../../cli/resend-samples.ts";
import { newWebhookSecret } from "../../../cli/sign.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../../test/harness.ts";
import { natsReader, postSigned, startGateway, type TestGateway } from "../../../test/support/gateway-test-kit.ts";
import { deliveryStatusService, loadDeliveryStatusSettings } from "../../delivery-status/service.ts";
import { DEAD_LETTERS_STREAM, DOMAIN_EVENTS_STREAM, type NatsHandles } from "../../shared/nats.ts";
import { startService, type RunningService } from "../../shared/service-host.ts";
import { sendsConsumerName } from "./sends-recorded-consumer.ts";
import { webhookSilenceSubject } from "./silence-events.ts";

const ms = (ts: Timestamp | undefined) => (ts ? timestampDate(ts).getTime() : undefined);

describe("webhook silence", () => {
  let gateway: TestGateway;
  let delivery: RunningService;
  let sends: Client<typeof DeliveryStatusService>;
  let nats: NatsHandles;
  const secret = newWebhookSecret();
  const answered = uniqueName("ws");
  const silent = uniqueName("ws");

  beforeAll(async () => {
    const natsUrl = (await privateNats()).url;
    gateway = await startGateway(testBaseConfig({ natsUrl }), { RECONCILE_SILENCE_MINUTES: "0.05" });
    delivery = await startService(deliveryStatusService(loadDeliveryStatusSettings({ DELIVERY_STATUS_PORT: "0" })), testBaseConfig({ natsUrl }));
    sends = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${delivery.port}` }));
    nats = await natsReader(natsUrl);
    for (const workspaceId of [answered, silent]) await gateway.settings.setWebhookSecret({ workspaceId, secret });
  });
  afterAll(async () => {
    await nats?.nc.close();
    await delivery?.stop();
    await gateway?.service.stop();
  });

  const recordSend = async (workspaceId: string, emailId: string) => {
    await sends.recordSend({ workspaceId, emailId, campaignId: "camp", subscriberId: `sub-${emailId}`, recipient: `${emailId}@example.com` });
    return ms((await sends.getSend({ workspaceId, emailId })).send?.recordedTime)!;
  };
  const postDelivered = async (workspaceId: string, emailId: string) => {
    const body = JSON.stringify(sampleEmailEvent("email.delivered", { emailId }));
    expect((await postSigned(gateway.url, workspaceId, secret, body)).status).toBe(200);
  };
  const silentSince = async (workspaceId: string) => ms((await gateway.settings.getWebhookHealth({ workspaceId })).silentSinceTime);
  const announced = async (workspaceId: string): Promise<WebhookSilence[]> => {
    const subject = webhookSilenceSubject(workspaceId);
    const total = (await nats.jsm.streams.info(DOMAIN_EVENTS_STREAM, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    if (total === 0) return [];
    const reader = await nats.js.consumers.get(DOMAIN_EVENTS_STREAM, { filter_subjects: [subject] });
    const events: WebhookSilence[] = [];
    for await (const msg of await reader.fetch({ max_messages: total, expires: 2000 })) {
      events.push(fromBinary(WebhookSilenceSchema, msg.data));
      if (events.length === total) break;
    }
    return events;
  };
  const silentMetric = async () => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    return Number(/^ngsreach_webhook_silent_workspaces (\S+)$/m.exec(text)?.[1]);
  };
  const sendsHandled = async () => {
    const info = await nats.jsm.consumers.info(DOMAIN_EVENTS_STREAM, sendsConsumerName);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  };

  let silentSendAt = 0;

  it("starts once the silence time has passed since a send no webhook came after, and is announced once", async () => {
    await recordSend(answered, "a-1");
    silentSendAt = await recordSend(silent, "s-1");
    // Accepted after its workspace's send, well within the silence time.
    await postDelivered(answered, "a-1");

    const since = await waitFor(() => silentSince(silent), { what: "the workspace to turn silent" });
    expect(since).toBe(silentSendAt);
    const [event, ...more] = await waitFor(async () => ((await announced(silent)).length > 0 ? await announced(silent) : undefined), { what: "WebhookSilence" });
    expect(more).toEqual([]);
    expect(event!.workspaceId).toBe(silent);
    expect(ms(event!.sinceTime)).toBe(silentSendAt);
    expect(event!.lastAcceptedTime).toBeUndefined();
    expect(ms(event!.detectedTime)).toBeGreaterThanOrEqual(silentSendAt + 3000);
    expect(await waitFor(async () => (await silentMetric()) === 1 || undefined, { what: "the silent-workspaces gauge at 1" })).toBe(true);

    // The silent workspace's announcement came from a pass after the other's silence time too.
    await waitFor(sendsHandled, { what: "the gateway to handle every SendRecorded" });
    expect(await silentSince(answered)).toBeUndefined();
    expect(await announced(answered)).toEqual([]);
  });

  it("shows in `ngsreach health` with what to check", async () => {
    const result = await runCli(["health", "--workspace", silent], { ...(process.env as Record<string, string>), GATEWAY_URL: gateway.url, INTERNAL_TOKEN: "" });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`silent since ${new Date(silentSendAt).toISOString()} (no verified webhook after sends recorded since then)`);
    expect(result.stdout).toContain("webhook secret");
    const quiet = await runCli(["health", "--workspace", answered], { ...(process.env as Record<string, string>), GATEWAY_URL: gateway.url, INTERNAL_TOKEN: "" });
    expect(quiet.stdout).not.toContain("silent since");
  });

  it("ends with a verified webhook, and a send after it starts a new silence, announced with its own start", async () => {
    // Passes after the one that announced it still count the silence.
    expect(await silentMetric()).toBe(1);
    await postDelivered(silent, "s-1");
    expect(await silentSince(silent)).toBeUndefined();
    expect(await waitFor(async () => (await silentMetric()) === 0 || undefined, { what: "the silent-workspaces gauge at 0" })).toBe(true);

    const nextSendAt = await recordSend(silent, "s-2");
    expect(await waitFor(() => silentSince(silent), { what: "a new silence" })).toBe(nextSendAt);
    const events = await waitFor(async () => {
      const all = await announced(silent);
      return all.length >= 2 ? all : undefined;
    });
    expect(events.map((event) => ms(event.sinceTime))).toEqual([silentSendAt, nextSendAt]);
    expect(ms(events[1]!.lastAcceptedTime)).toBeGreaterThan(silentSendAt);
  });

  it("dead-letters a SendRecorded published on another workspace's subject", async () => {
    const message = create(SendRecordedSchema, { workspaceId: answered, emailId: "x-1", campaignId: "camp", recordedTime: timestampNow() });
    await nats.js.publish(`sends.${silent}.recorded`, toBinary(SendRecordedSchema, message), { msgID: uniqueName("poison") });
    await waitFor(async () => {
      const info = await nats.jsm.streams.info(DEAD_LETTERS_STREAM, { subjects_filter: `dead.${sendsConsumerName}` });
      return (info.state.subjects?.[`dead.${sendsConsumerName}`] ?? 0) === 1;
    }, { what: "the dead letter" });
  });
});
