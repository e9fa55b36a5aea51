import { describe, expect, it } from "vitest";
import { newWebhookSecret } from "../../cli/sign.ts";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import { natsReader, postSigned, startGateway, storedEvents } from "../../test/support/gateway-test-kit.ts";

describe("the gateway when it is stopped", () => {
  it("refuses new connections at once, answers the webhooks in flight after their JetStream ack, then stops", async () => {
    const nats = await privateNats();
    const gateway = await startGateway(testBaseConfig({ natsUrl: nats.url }), { WEBHOOK_PUBLISH_RETRY_MS: "10000" });
    const workspace = uniqueName("ws");
    const secret = newWebhookSecret();
    await gateway.settings.setWebhookSecret({ workspaceId: workspace, secret, actor: "test", note: "" });
    const body = (n: number) => JSON.stringify(sampleEmailEvent("email.delivered", { emailId: `e-stop-${n}` }));
    expect((await postSigned(gateway.url, workspace, secret, body(0), { id: "msg_before" })).status).toBe(200);

    // Three webhooks in flight: NATS is frozen, so each waits for its ack when the stop begins.
    await nats.pause();
    const inFlight = [1, 2, 3].map((n) => postSigned(gateway.url, workspace, secret, body(n), { id: `msg_flight_${n}` }));
    await new Promise((resolve) => setTimeout(resolve, 300)); // the requests reach the handler and publish
    const stopped = gateway.service.stop();
    // A new connection is refused while the stop waits for the ones in flight.
    await waitFor(async () => (await fetch(`${gateway.url}/healthz`).then(() => "answered", () => "refused")) === "refused", {
      timeoutMs: 2_000,
      what: "new connections refused",
    });
    nats.resume();
    expect((await Promise.all(inFlight)).map((answer) => answer.status)).toEqual([200, 200, 200]);
    await stopped;

    const reader = await natsReader(nats.url);
    try {
      expect((await storedEvents(reader, workspace)).map((event) => event.svixId).sort()).toEqual(["msg_before", "msg_flight_1", "msg_flight_2", "msg_flight_3"]);
    } finally {
      await reader.nc.close();
    }
  });
});
