import { context, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { privateNats, testBaseConfig, uniqueName } from "../../../test/harness.ts";
import { natsReader, postWebhook, startGateway } from "../../../test/support/gateway-test-kit.ts";
import { startOtlpReceiver } from "../../../test/support/otlp-receiver.ts";
import { sampleEmailEvent } from "../../../cli/resend-samples.ts";
import { newWebhookSecret, signedHeaders } from "../../../cli/sign.ts";
import { RESEND_EVENTS_STREAM } from "../nats.ts";
import { loadTracingConfig } from "./config.ts";
import { activeTracing } from "./spans.ts";

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/** Sets a secret, posts one signed webhook carrying a caller's traceparent, and returns the stored message's headers. */
async function oneWebhook(gateway: Awaited<ReturnType<typeof startGateway>>, natsUrl: string) {
  const workspaceId = uniqueName("ws");
  const secret = newWebhookSecret();
  await gateway.settings.setWebhookSecret({ workspaceId, secret, actor: "tracing-test", note: "" });
  const body = JSON.stringify(sampleEmailEvent("email.delivered"));
  expect((await postWebhook(gateway.url, workspaceId, body, { ...signedHeaders(secret, body), traceparent })).status).toBe(200);
  const reader = await natsReader(natsUrl);
  try {
    return (await reader.jsm.streams.getMessage(RESEND_EVENTS_STREAM, { last_by_subj: `resend.events.${workspaceId}.email.delivered` }))!.header;
  } finally {
    await reader.nc.close();
  }
}

describe("tracing turned off", () => {
  it("with no endpoint: registers no provider, processor or context manager, makes no command spans, and puts no trace context on stored events", async () => {
    const nats = await privateNats();
    const config = testBaseConfig({ natsUrl: nats.url });
    expect(config.tracing?.tracesUrl).toBeUndefined();
    const gateway = await startGateway(config);
    try {
      expect(activeTracing()).toBeUndefined();
      const probe = trace.getTracer("probe").startSpan("probe");
      expect(probe.isRecording()).toBe(false);
      expect(context.with(trace.setSpan(ROOT_CONTEXT, probe), () => trace.getSpan(context.active()))).toBeUndefined();
      // Command events feed only the write-statement counter (database-writes.ts): one listener, and none of the
      // commandSucceeded/commandFailed ones spans end on.
      const client = gateway.service.context.mongo.client;
      expect([client.listenerCount("commandStarted"), client.listenerCount("commandSucceeded"), client.listenerCount("commandFailed")]).toEqual([1, 0, 0]);
      const stored = await oneWebhook(gateway, nats.url);
      expect(stored.has("Nats-Msg-Id")).toBe(true);
      expect(stored.has("traceparent")).toBe(false);
    } finally {
      await gateway.service.stop();
    }
  });

  it("with an endpoint and OTEL_SDK_DISABLED=true: exports nothing, not even at the stop's flush", async () => {
    const receiver = await startOtlpReceiver();
    const nats = await privateNats();
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: "60000" };
    try {
      const disabled = await startGateway(testBaseConfig({ natsUrl: nats.url, tracing: loadTracingConfig({ ...env, OTEL_SDK_DISABLED: "true" }) }));
      expect(activeTracing()).toBeUndefined();
      expect((await oneWebhook(disabled, nats.url)).has("traceparent")).toBe(false);
      await disabled.service.stop();
      expect(receiver.contentTypes).toEqual([]);

      // The same gateway with tracing on: the spans a 60 s schedule still holds go out when it stops.
      const enabled = await startGateway(testBaseConfig({ natsUrl: nats.url, tracing: loadTracingConfig(env) }));
      expect(activeTracing()).toBeDefined();
      expect((await oneWebhook(enabled, nats.url)).get("traceparent")).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
      expect(receiver.spans).toEqual([]);
      await enabled.service.stop();
      expect(activeTracing()).toBeUndefined();
      expect(receiver.spans.map((span) => span.name)).toEqual(expect.arrayContaining(["POST /webhooks/resend", "verify resend", "send resend.events"]));
    } finally {
      await receiver.close();
    }
  });
});
