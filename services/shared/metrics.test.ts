import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { publishResendEvent } from "../../test/publish-events.ts";
import type { LocalServer } from "../../tools/local-servers.ts";
import { consumerName } from "../delivery-status/consumer.ts";
import { deliveryStatusService } from "../delivery-status/service.ts";
import { createLogger } from "./log.ts";
import { connectNats, ensureStreams } from "./nats.ts";
import { startService, type RunningService } from "./service-host.ts";

/** One sample's value from the text exposition, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key, value]) => [key, value]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

describe("a service's /metrics", () => {
  let nats: LocalServer;
  let service: RunningService;
  const workspaceId = uniqueName("ws");
  const scrape = async () => {
    const started = performance.now();
    const response = await fetch(`http://127.0.0.1:${service.port}/metrics`, { signal: AbortSignal.timeout(5000) });
    return { status: response.status, type: response.headers.get("content-type"), text: await response.text(), ms: performance.now() - started };
  };

  beforeAll(async () => {
    nats = await privateNats();
    const config = testBaseConfig({ natsUrl: nats.url });
    // Published before the service starts, so its first pull takes them together: batches, one dead letter, one skip.
    const publisher = await connectNats(nats.url, "metrics-test", createLogger({}, "error"));
    await ensureStreams(publisher.jsm, config);
    for (let n = 0; n < 6; n++) await publishResendEvent(publisher.js, workspaceId, sampleEmailEvent("email.delivered", { emailId: `e${n}` }));
    await publishResendEvent(publisher.js, workspaceId, sampleEmailEvent("email.scheduled", { emailId: "e0" })); // not a type it applies
    await publishResendEvent(publisher.js, workspaceId, sampleEmailEvent("email.delivered", { emailId: "" })); // poison
    await publisher.nc.close();
    service = await startService(deliveryStatusService({ port: 0 } as never), config);
  });
  afterAll(async () => {
    await nats?.restart().catch(() => undefined); // a stop drains NATS: give it a server again
    await service?.stop();
  });

  it("shows every consumer, RPC, dependency, stream and process series after some traffic", async () => {
    const api = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }));
    await waitFor(() => api.getSend({ workspaceId, emailId: "e5" }).then(() => true, () => false), { what: "the last event applied" });
    await expect(api.getSend({ workspaceId, emailId: "nobody" })).rejects.toMatchObject({ code: Code.NotFound });

    const consumer = { consumer: consumerName };
    const { text, type } = await waitFor(async () => {
      const scraped = await scrape();
      // The consumer's gauges are read from JetStream at scrape time: wait for the acks to be counted there.
      return sample(scraped.text, "ngsreach_dead_letters", consumer) === 1 && sample(scraped.text, "ngsreach_consumer_ack_pending_messages", consumer) === 0
        ? scraped
        : undefined;
    }, { what: "JetStream's view of the consumer settled" });
    expect(type).toBe("text/plain; version=0.0.4; charset=utf-8");

    expect(sample(text, "ngsreach_consumer_messages_total", { ...consumer, outcome: "applied" })).toBe(6);
    expect(sample(text, "ngsreach_consumer_messages_total", { ...consumer, outcome: "skipped" })).toBe(1);
    expect(sample(text, "ngsreach_consumer_messages_total", { ...consumer, outcome: "dead_lettered" })).toBe(1);
    expect(sample(text, "ngsreach_consumer_messages_total", { ...consumer, outcome: "retried" })).toBe(0);
    expect(sample(text, "ngsreach_consumer_redeliveries_total", consumer)).toBe(0);
    expect(sample(text, "ngsreach_consumer_handle_duration_seconds_count", consumer)).toBeGreaterThanOrEqual(8);
    expect(sample(text, "ngsreach_consumer_handle_duration_seconds_bucket", { ...consumer, le: "+Inf" })).toBeGreaterThanOrEqual(8);
    expect(sample(text, "ngsreach_consumer_batch_duration_seconds_count", consumer)).toBeGreaterThanOrEqual(1);
    expect(sample(text, "ngsreach_consumer_batch_messages_sum", consumer)).toBeGreaterThanOrEqual(2);
    expect(sample(text, "ngsreach_consumer_pending_messages", consumer)).toBe(0);
    expect(sample(text, "ngsreach_consumer_redelivered_messages", consumer)).toBe(0);

    const rpc = { service: DeliveryStatusService.typeName, method: "GetSend" };
    expect(sample(text, "ngsreach_rpc_duration_seconds_count", { ...rpc, code: "ok" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "ngsreach_rpc_duration_seconds_count", { ...rpc, code: "not_found" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "ngsreach_rpc_duration_seconds_bucket", { ...rpc, code: "not_found", le: "+Inf" })).toBeGreaterThanOrEqual(1);

    expect(sample(text, "ngsreach_nats_up")).toBe(1);
    expect(sample(text, "ngsreach_database_up")).toBe(1);
    expect(sample(text, "ngsreach_stream_messages", { stream: "RESEND_EVENTS" })).toBe(8);
    expect(sample(text, "ngsreach_stream_messages", { stream: "DEAD_LETTERS" })).toBe(1);
    expect(sample(text, "ngsreach_stream_messages", { stream: "DOMAIN_EVENTS" })).toBeGreaterThanOrEqual(0);
    expect(sample(text, "ngsreach_stream_bytes", { stream: "RESEND_EVENTS" })).toBeGreaterThan(0);

    for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "nodejs_eventloop_lag_seconds", "nodejs_heap_size_used_bytes"]) {
      expect(sample(text, name), name).toBeGreaterThanOrEqual(0);
    }
    expect(text).not.toContain(workspaceId);
  });

  it("answers within a second while NATS is frozen or stopped, saying NATS is down and leaving out what it could not read", async () => {
    const expectDown = (scraped: Awaited<ReturnType<typeof scrape>>) => {
      expect(scraped.status).toBe(200);
      expect(scraped.ms).toBeLessThan(1000);
      expect(sample(scraped.text, "ngsreach_nats_up")).toBe(0);
      expect(sample(scraped.text, "ngsreach_database_up")).toBe(1);
      expect(sample(scraped.text, "ngsreach_consumer_pending_messages", { consumer: consumerName })).toBeUndefined();
      expect(sample(scraped.text, "ngsreach_stream_messages", { stream: "RESEND_EVENTS" })).toBeUndefined();
      // What the process counted itself is still there.
      expect(sample(scraped.text, "ngsreach_consumer_messages_total", { consumer: consumerName, outcome: "applied" })).toBe(6);
    };
    // Frozen: the connection still looks up, so only the bound on the JetStream reads keeps the scrape short.
    await nats.pause();
    try {
      expectDown(await scrape());
      expectDown(await scrape()); // a second scrape while the first read still hangs
    } finally {
      nats.resume();
    }
    await waitFor(async () => sample((await scrape()).text, "ngsreach_nats_up") === 1, { what: "NATS up again" });

    await nats.stop();
    await waitFor(() => !service.context.nats.connected(), { what: "the disconnect noticed" });
    expectDown(await scrape());
  });
});
