import { randomBytes } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatusService } from "../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { WorkspaceSettingsService } from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { sampleEmailEvent } from "../cli/resend-samples.ts";
import { newWebhookSecret, signedHeaders } from "../cli/sign.ts";
import { postWebhook } from "./support/gateway-test-kit.ts";
import { spanKind, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "./support/otlp-receiver.ts";
import { privateNats, shared, testSecretsKey, uniqueName, waitFor } from "./harness.ts";
import { spawnService, type ServiceProcess } from "./processes.ts";

const consumers = ["delivery-status", "campaign-stats", "suppression"];
/** All a database span may say: what was called where, and how it failed — no filter, document or message. */
const databaseAttributes = new Set([
  "db.system.name",
  "db.system",
  "db.operation.name",
  "db.collection.name",
  "db.namespace",
  "server.address",
  "server.port",
  "error.type",
  "db.response.status_code",
]);

/** A caller's W3C trace context: the trace every span of the webhook must join. */
function callerContext() {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

describe.each(["node", "deno"] as const)("OpenTelemetry traces across the pipeline, on %s", (runtime) => {
  let receiver: OtlpReceiver;
  let gateway: ServiceProcess;
  const services: Record<string, ServiceProcess> = {};

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    const nats = await privateNats();
    const env = {
      NATS_URL: nats.url,
      MONGODB_URI: shared.mongoUri,
      MONGODB_DATABASE: uniqueName("tracing"),
      SECRETS_KEY: testSecretsKey,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: "100",
    };
    // The gateway exports http/protobuf (the default), the consumers http/json: both encodings are received.
    [gateway] = await Promise.all([
      spawnService(runtime, "webhook-gateway", env),
      ...consumers.map(async (name) => (services[name] = await spawnService(runtime, name, { ...env, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }))),
    ]);
  });

  afterAll(async () => {
    const codes = await Promise.all([gateway, ...Object.values(services)].filter(Boolean).map((service) => service.stop()));
    await receiver?.close();
    expect(codes.every((code) => code === 0)).toBe(true);
  });

  it("gives one webhook one trace: the gateway's request, verification and publish, each consumer's handling and its database calls", async () => {
    const workspaceId = uniqueName("ws");
    const secret = newWebhookSecret();
    const settings = createClient(WorkspaceSettingsService, createGrpcTransport({ baseUrl: gateway.baseUrl }));
    await settings.setWebhookSecret({ workspaceId, secret, actor: "tracing-test", note: "" });

    const caller = callerContext();
    const body = JSON.stringify(
      sampleEmailEvent("email.bounced", { emailId: "trace-e1", to: ["reader@example.com"], tags: { campaign_id: "trace-c", subscriber_id: "sub-1" } }),
    );
    const answer = await postWebhook(gateway.baseUrl, workspaceId, body, { ...signedHeaders(secret, body), traceparent: caller.traceparent });
    expect(answer.status).toBe(200);

    const inTrace = () => receiver.spans.filter((span) => span.traceId === caller.traceId);
    const processSpan = (service: string) =>
      inTrace().find((span) => span.serviceName === service && span.kind === spanKind.consumer && span.attributes["messaging.destination.name"] === `resend.events.${workspaceId}.email.bounced`);
    await waitFor(
      () => consumers.every((service) => processSpan(service) && inTrace().some((span) => span.serviceName === service && span.attributes["db.system.name"] === "mongodb")),
      { what: "spans of the gateway and the three consumers with their database calls", timeoutMs: 45_000 },
    );
    const spans = inTrace();
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    const descendsFrom = (span: ReceivedSpan, ancestor: ReceivedSpan): boolean => {
      for (let at: ReceivedSpan | undefined = span; at; at = byId.get(at.parentSpanId)) if (at.spanId === ancestor.spanId) return true;
      return false;
    };

    // The gateway continued the caller's trace: its request span is the caller's child.
    const request = spans.find((span) => span.serviceName === "webhook-gateway" && span.kind === spanKind.server)!;
    expect(request).toMatchObject({ name: "POST /webhooks/resend", parentSpanId: caller.spanId });
    expect(request.attributes).toMatchObject({ "http.response.status_code": 200, "ngsreach.webhook.outcome": "accepted", "ngsreach.workspace_id": workspaceId });
    const verify = spans.find((span) => span.serviceName === "webhook-gateway" && span.name === "verify resend")!;
    expect(verify).toMatchObject({ parentSpanId: request.spanId, attributes: { "ngsreach.verify.outcome": "ok" } });
    const publish = spans.find((span) => span.serviceName === "webhook-gateway" && span.kind === spanKind.producer)!;
    expect(publish).toMatchObject({ name: "send resend.events", parentSpanId: request.spanId });
    expect(publish.attributes["messaging.destination.name"]).toBe(`resend.events.${workspaceId}.email.bounced`);

    // Each consumer's handling span is the publish span's child (the context came in the message headers),
    // and its database calls are the handling span's children — names and collections, never documents.
    for (const service of consumers) {
      const handling = processSpan(service)!;
      expect(handling.parentSpanId).toBe(publish.spanId);
      const database = spans.filter((span) => span.serviceName === service && span.attributes["db.system.name"] === "mongodb");
      expect(database.length).toBeGreaterThan(0);
      for (const call of database) {
        expect(call.kind).toBe(spanKind.client);
        expect(descendsFrom(call, handling)).toBe(true);
        expect(Object.keys(call.attributes).filter((key) => !databaseAttributes.has(key))).toEqual([]);
        expect(call.attributes["db.operation.name"]).toBeTypeOf("string");
      }
    }
    // The suppression's outbound event (subscriber.<ws>.suppressed) is in the trace too, as a producer span.
    await waitFor(() => inTrace().some((span) => span.serviceName === "suppression" && span.name === "send subscriber.{workspace}.suppressed"), {
      what: "the suppression's outbound event in the webhook's trace",
    });
    // No span of the whole trace carries the recipient's address.
    expect(JSON.stringify(inTrace())).not.toContain("reader@example.com");
    expect(receiver.contentTypes).toEqual(expect.arrayContaining(["application/x-protobuf", "application/json"]));
  });

  it("gives every RPC a server span that continues the caller's trace, with its database calls as children", async () => {
    const caller = callerContext();
    const transport = createGrpcTransport({
      baseUrl: services["delivery-status"]!.baseUrl,
      interceptors: [(next) => (req) => (req.header.set("traceparent", caller.traceparent), next(req))],
    });
    const answer = await createClient(DeliveryStatusService, transport).getSend({ workspaceId: uniqueName("ws"), emailId: "missing" }).catch((error) => error);
    expect(answer).toBeInstanceOf(Error); // NotFound: a client's mistake, not a server fault

    const server = await waitFor(
      () => receiver.spans.find((span) => span.traceId === caller.traceId && span.kind === spanKind.server),
      { what: "the RPC's server span" },
    );
    expect(server).toMatchObject({
      serviceName: "delivery-status",
      name: "ngsreach.delivery.v1.DeliveryStatusService/GetSend",
      parentSpanId: caller.spanId,
      statusCode: 0,
      attributes: { "rpc.system": "grpc", "rpc.grpc.status_code": 5 },
    });
    await waitFor(() => receiver.spans.some((span) => span.parentSpanId === server.spanId && span.attributes["db.system.name"] === "mongodb"), {
      what: "the RPC's database call",
    });
  });

  it("keeps a server stream's span open while it streams and ends it when the client leaves", async () => {
    const caller = callerContext();
    const baseUrl = services["delivery-status"]!.baseUrl;
    const sends = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl }));
    const watching = createClient(
      DeliveryStatusService,
      createGrpcTransport({ baseUrl, interceptors: [(next) => (req) => (req.header.set("traceparent", caller.traceparent), next(req))] }),
    );
    const workspaceId = uniqueName("ws");
    const abort = new AbortController();
    const first = (async () => {
      for await (const change of watching.watchSends({ workspaceId }, { signal: abort.signal })) return change;
    })();
    // Until the watch is subscribed a registration passes unseen: register new sends until one is streamed.
    let receivedAtMs: number | undefined;
    void first.then(() => (receivedAtMs = Date.now()));
    await waitFor(
      async () => {
        await sends.recordSend({ workspaceId, emailId: uniqueName("e"), campaignId: "c", subscriberId: "s", recipient: "watch@example.com" });
        return receivedAtMs !== undefined;
      },
      { intervalMs: 200, what: "a change streamed to the watch" },
    );
    abort.abort();
    const ended = await waitFor(() => receiver.spans.find((span) => span.traceId === caller.traceId && span.name.endsWith("/WatchSends")), {
      what: "the stream's span once the client left",
    });
    expect(ended).toMatchObject({ kind: spanKind.server, parentSpanId: caller.spanId, statusCode: 0 });
    // It lasted past the change it streamed (a span ended when the handler returned its stream would not).
    expect(ended.endMs).toBeGreaterThanOrEqual(receivedAtMs! - 5);
  });
});
