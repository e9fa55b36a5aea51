import { connect } from "node:net";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newWebhookSecret } from "../../cli/sign.ts";
import { sampleEmailEvent } from "../../cli/resend-samples.ts";
import { privateFerretDb, privateNats, testBaseConfig, uniqueName, waitFor } from "../../test/harness.ts";
import type { LocalServer } from "../../tools/local-servers.ts";
import { natsReader, postSigned, startGateway, storedEvents, type TestGateway } from "../../test/support/gateway-test-kit.ts";

async function healthOf(gateway: TestGateway) {
  const http = (await fetch(`${gateway.url}/healthz`)).status;
  const grpc = (await createClient(Health, createGrpcTransport({ baseUrl: gateway.url })).check({})).status;
  return { http, grpc };
}

describe("the webhook endpoint when its dependencies fail", () => {
  let nats: LocalServer;
  let ferret: LocalServer;
  let gateway: TestGateway;
  const workspace = uniqueName("ws");
  const secret = newWebhookSecret();
  const body = JSON.stringify(sampleEmailEvent("email.bounced", { emailId: "e-faults" }));

  beforeAll(async () => {
    [nats, ferret] = await Promise.all([privateNats(), privateFerretDb()]);
    gateway = await startGateway(testBaseConfig({ natsUrl: nats.url, mongoUri: ferret.url, requestTimeoutMs: 1000 }), {
      WEBHOOK_PUBLISH_TIMEOUT_MS: "500",
      WEBHOOK_PUBLISH_RETRY_MS: "1000",
      WEBHOOK_UNKNOWN_CACHE_SECONDS: "120", // the outage test relies on a cached miss, however slow the machine
    });
    await gateway.settings.setWebhookSecret({ workspaceId: workspace, secret, actor: "test", note: "" });
  });
  afterAll(async () => gateway?.service.stop());

  it("answers 503 while NATS is down, never 200, and stores the retried event exactly once when it is back", async () => {
    await nats.stop();
    const during = await postSigned(gateway.url, workspace, secret, body, { id: "msg_outage" });
    expect(during).toMatchObject({ status: 503, body: { error: "unavailable" } });
    // Health reports the outage: SERVING only while NATS and the database are reachable.
    expect(await healthOf(gateway)).toEqual({ http: 503, grpc: HealthCheckResponse_ServingStatus.NOT_SERVING });
    await nats.restart();
    await waitFor(async () => (await fetch(`${gateway.url}/healthz`)).ok, { what: "the gateway to reconnect" });
    expect((await healthOf(gateway)).grpc).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const retried = await waitFor(async () => {
      const response = await postSigned(gateway.url, workspace, secret, body, { id: "msg_outage" });
      return response.status === 200 ? response : undefined;
    });
    expect(retried.body.status).toBe("accepted");
    const reader = await natsReader(nats.url);
    try {
      expect((await storedEvents(reader, workspace)).map((event) => event.svixId)).toEqual(["msg_outage"]);
    } finally {
      await reader.nc.close();
    }
  });

  it("holds a webhook through a NATS outage shorter than WEBHOOK_PUBLISH_RETRY_MS and answers 200 once it is stored", async () => {
    const patient = await startGateway(testBaseConfig({ natsUrl: nats.url, mongoUri: ferret.url }), {
      WEBHOOK_PUBLISH_TIMEOUT_MS: "500",
      WEBHOOK_PUBLISH_RETRY_MS: "30000",
    });
    try {
      await patient.settings.setWebhookSecret({ workspaceId: workspace, secret, actor: "test", note: "" });
      await nats.stop();
      const answer = postSigned(patient.url, workspace, secret, body, { id: "msg_held" });
      // The request is still open while NATS is down (a failed attempt would have answered by now).
      const early = await Promise.race([answer, new Promise((resolve) => setTimeout(() => resolve("waiting"), 1500))]);
      expect(early).toBe("waiting");
      await nats.restart();
      expect(await answer).toMatchObject({ status: 200, body: { status: "accepted" } });
      const reader = await natsReader(nats.url);
      try {
        expect((await storedEvents(reader, workspace)).filter((event) => event.svixId === "msg_held")).toHaveLength(1);
      } finally {
        await reader.nc.close();
      }
    } finally {
      await patient.service.stop();
    }
  });

  it("answers 503 when the settings database is unreachable on a cache miss, and keeps serving cached workspaces", async () => {
    await postSigned(gateway.url, workspace, secret, body); // make sure the workspace is cached
    const unknown = uniqueName("nobody");
    expect((await postSigned(gateway.url, unknown, secret, body)).status).toBe(404); // cached as a miss
    await ferret.stop();
    try {
      // Rejections need no database: the bad signature of a cached workspace and a cached unknown workspace.
      expect((await postSigned(gateway.url, workspace, newWebhookSecret(), body)).status).toBe(401);
      expect((await postSigned(gateway.url, unknown, secret, body)).status).toBe(404);
      const uncached = await postSigned(gateway.url, uniqueName("ws"), secret, body);
      expect(uncached).toMatchObject({ status: 503, body: { error: "unavailable" } });
      expect(await healthOf(gateway)).toEqual({ http: 503, grpc: HealthCheckResponse_ServingStatus.NOT_SERVING });
      expect((await postSigned(gateway.url, workspace, secret, body)).status).toBe(200);
    } finally {
      await ferret.restart();
    }
    await waitFor(async () => (await postSigned(gateway.url, uniqueName("ws"), secret, body)).status === 404, {
      what: "the database to be reachable again",
    });
  });

  it("cuts off a client that never finishes its request, and keeps serving others", async () => {
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const socket = connect(gateway.service.port, "127.0.0.1", () => {
        socket.write(`POST /webhooks/resend?workspaceId=${workspace} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n`);
      });
      const started = Date.now();
      socket.on("close", () => resolve(Date.now() - started));
      socket.on("error", reject);
      socket.resume();
    });
    expect(closedAfter).toBeLessThan(10_000);
    expect((await postSigned(gateway.url, workspace, secret, body)).status).toBe(200);
  });
});
