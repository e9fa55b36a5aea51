import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateNats, shared, uniqueName, waitFor } from "../../../test/harness.ts";
import { spanKind, startOtlpReceiver, type OtlpReceiver } from "../../../test/support/otlp-receiver.ts";
import { startConsumer, type RunningConsumer } from "../consumer.ts";
import { createLogger } from "../log.ts";
import { MetricsRegistry } from "../metrics.ts";
import { connectMongo, type MongoHandles } from "../mongo.ts";
import { connectNats, ensureStreams, RESEND_EVENTS_STREAM, type NatsHandles } from "../nats.ts";
import { loadTracingConfig } from "./config.ts";
import { publishTraced } from "./nats-spans.ts";
import { startTracing, type TracingHandle } from "./start.ts";

const log = createLogger({ test: "consumer-spans" }, "error", () => {}); // the failure test dead-letters on purpose
const text = new TextDecoder();

describe("spans of the shared consumer loop", () => {
  let receiver: OtlpReceiver;
  let tracing: TracingHandle;
  let nats: NatsHandles;
  let mongo: MongoHandles;
  const running: RunningConsumer[] = [];

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    const config = loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_BSP_SCHEDULE_DELAY: "50" });
    tracing = (await startTracing(config, "consumer-spans-test", log))!;
    nats = await connectNats((await privateNats()).url, "consumer-spans-test", log);
    await ensureStreams(nats.jsm, { eventsMaxAgeMs: 3_600_000, duplicateWindowMs: 120_000 });
    mongo = await connectMongo(shared.mongoUri, uniqueName("tracing"), "consumer-spans-test", log);
  });
  afterAll(async () => {
    await Promise.all(running.map((consumer) => consumer.stop()));
    await nats?.nc.close();
    await mongo?.close();
    await tracing?.stop();
    await receiver?.close();
  });

  it("links a batch span to its messages' traces, gives each message a span in its own trace, and parents the batch's database calls", async () => {
    const workspace = uniqueName("ws");
    const subject = `resend.events.${workspace}.email.sent`;
    // Published before the consumer starts: its first pull holds them all, so they share a batch.
    for (let i = 0; i < 6; i++) await publishTraced(nats.js, subject, new TextEncoder().encode(`m${i}`), { msgID: `${workspace}:${i}` });
    const collection = mongo.db.collection<{ _id: string }>("traced_batches");
    const name = uniqueName("durable");
    running.push(
      await startConsumer(
        { js: nats.js, jsm: nats.jsm, log, metrics: new MetricsRegistry() },
        {
          name,
          stream: RESEND_EVENTS_STREAM,
          filterSubjects: [`resend.events.${workspace}.>`],
          decode: (data) => text.decode(data),
          handle: async (body) => void (await collection.insertOne({ _id: `${workspace}:${body}` })),
          handleBatch: async (bodies) => void (await collection.insertMany(bodies.map((body) => ({ _id: `${workspace}:${body}` })))),
        },
      ),
    );

    const producers = () => receiver.spans.filter((span) => span.kind === spanKind.producer && span.attributes["messaging.destination.name"] === subject);
    const batch = await waitFor(
      () => receiver.spans.find((span) => span.name === `process ${name} batch` && span.links.length >= 2),
      { what: "a batch span linking two messages or more" },
    );
    await waitFor(() => producers().length === 6, { what: "the six producer spans" });
    expect(batch).toMatchObject({ kind: spanKind.consumer, parentSpanId: "" });
    expect(batch.attributes["messaging.batch.message_count"]).toBe(batch.links.length);
    const producerOf = new Map(producers().map((span) => [span.traceId, span]));
    for (const link of batch.links) expect(producerOf.get(link.traceId)?.spanId).toBe(link.spanId);

    // Each batched message: a span in its own trace, child of its producer, linked back to the batch.
    await waitFor(
      () => receiver.spans.filter((span) => span.attributes["ngsreach.batched"] === true && span.links.some((link) => link.spanId === batch.spanId)).length === batch.links.length,
      { what: "a span per batched message" },
    );
    for (const link of batch.links) {
      const own = receiver.spans.find((span) => span.traceId === link.traceId && span.name === `process ${name}` && span.links.some((back) => back.spanId === batch.spanId))!;
      expect(own.parentSpanId).toBe(link.spanId);
    }
    // The bulk write is the batch span's child, in the batch's trace.
    const insert = await waitFor(() => receiver.spans.find((span) => span.parentSpanId === batch.spanId && span.attributes["db.operation.name"] === "insert"), {
      what: "the batch's insert span",
    });
    expect(insert).toMatchObject({ traceId: batch.traceId, kind: spanKind.client, attributes: { "db.collection.name": "traced_batches", "db.system.name": "mongodb" } });
  });

  it("marks a message's span failed when its handler throws, naming the error class without the address it quotes", async () => {
    const workspace = uniqueName("ws");
    const subject = `resend.events.${workspace}.email.sent`;
    await publishTraced(nats.js, subject, new TextEncoder().encode("bad"), { msgID: `${workspace}:bad` });
    const name = uniqueName("durable");
    let calls = 0;
    running.push(
      await startConsumer(
        { js: nats.js, jsm: nats.jsm, log, metrics: new MetricsRegistry() },
        {
          name,
          stream: RESEND_EVENTS_STREAM,
          filterSubjects: [`resend.events.${workspace}.>`],
          decode: (data) => text.decode(data),
          handle: async () => {
            calls++;
            throw new RangeError("cannot apply the event of ann@example.com");
          },
          maxAttempts: 1,
        },
      ),
    );
    const failed = await waitFor(() => receiver.spans.find((span) => span.name === `process ${name}` && span.statusCode === 2), { what: "the failed handling span" });
    expect(calls).toBeGreaterThan(0);
    expect(failed.attributes["error.type"]).toBe("RangeError");
    expect(failed.statusMessage).toBe("cannot apply the event of <address>");
    const producer = receiver.spans.find((span) => span.kind === spanKind.producer && span.attributes["messaging.destination.name"] === subject)!;
    expect(failed).toMatchObject({ traceId: producer.traceId, parentSpanId: producer.spanId });
    expect(JSON.stringify(receiver.spans)).not.toContain("ann@example.com");
  });
});
