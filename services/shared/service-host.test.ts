import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.ts";
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { testBaseConfig, testSecretsKey } from "../../test/harness.ts";
import { campaignStatsService } from "../campaign-stats/service.ts";
import { deliveryStatusService } from "../delivery-status/service.ts";
import { suppressionService } from "../suppression/service.ts";
import { gatewayService, loadGatewaySettings } from "../webhook-gateway/service.ts";
import { startService, type RunningService } from "./service-host.ts";
import type { ServiceDefinition } from "./service-host.ts";

const definitions: [string, () => ServiceDefinition][] = [
  ["webhook-gateway", () => gatewayService(loadGatewaySettings({ GATEWAY_PORT: "0", SECRETS_KEY: testSecretsKey }))],
  ["delivery-status", () => deliveryStatusService({ port: 0 } as never)],
  ["campaign-stats", () => campaignStatsService({ port: 0 } as never)],
  ["suppression", () => suppressionService({ port: 0 } as never)],
];

describe.each(definitions)("the %s service", (_name, definition) => {
  let service: RunningService;
  afterAll(async () => service?.stop());

  it("starts and answers a gRPC health check over HTTP/2 cleartext", async () => {
    service = await startService(definition(), testBaseConfig());
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` });
    const response = await createClient(Health, transport).check({});
    expect(response.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("answers the same check as Connect JSON over HTTP/1.1, as curl would", async () => {
    const response = await fetch(`http://127.0.0.1:${service.port}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "SERVING" });
  });

  it("serves Prometheus metrics and a plain /healthz on the same port", async () => {
    const metrics = await fetch(`http://127.0.0.1:${service.port}/metrics`);
    expect(metrics.headers.get("content-type")).toContain("text/plain");
    const health = await fetch(`http://127.0.0.1:${service.port}/healthz`);
    expect(await health.json()).toEqual({ status: "SERVING" });
  });

  it("answers an unknown health service name with NotFound", async () => {
    const response = await fetch(`http://127.0.0.1:${service.port}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ service: "no.such.Service" }),
    });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { code: string }).code).toBe("not_found");
  });
});

describe("a service with INTERNAL_TOKEN set", () => {
  let service: RunningService;
  const token = "internal-token-0123456789";
  afterAll(async () => service?.stop());

  it("answers every RPC without the bearer token with Unauthenticated, but keeps health checks open", async () => {
    service = await startService(
      gatewayService(loadGatewaySettings({ GATEWAY_PORT: "0", SECRETS_KEY: testSecretsKey })),
      testBaseConfig({ internalToken: token }),
    );
    const baseUrl = `http://127.0.0.1:${service.port}`;
    const call = (authorization?: string) =>
      fetch(`${baseUrl}/ngsreach.workspace.v1.WorkspaceSettingsService/GetWebhookHealth`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ workspaceId: "nobody" }),
      });
    for (const header of [undefined, "Bearer wrong-token-0123456789", token, `Basic ${token}`]) {
      const response = await call(header);
      expect(response.status, String(header)).toBe(401);
      expect(((await response.json()) as { code: string }).code).toBe("unauthenticated");
    }
    const authorized = await call(`Bearer ${token}`);
    expect(((await authorized.json()) as { code: string }).code).toBe("not_found");
    // Mutating RPCs too, over gRPC as the mesh calls them: nothing is stored without the token.
    const settings = (authorization?: string) =>
      createClient(
        WorkspaceSettingsService,
        createGrpcTransport({ baseUrl, interceptors: authorization ? [(next) => (req) => (req.header.set("authorization", authorization), next(req))] : [] }),
      );
    const change = { workspaceId: "token_ws", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", actor: "test", note: "" };
    await expect(settings().setWebhookSecret(change)).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(settings(`Bearer ${token}`).getWebhookHealth({ workspaceId: "token_ws" })).rejects.toMatchObject({ code: Code.NotFound });
    await settings(`Bearer ${token}`).setWebhookSecret(change);
    expect((await settings(`Bearer ${token}`).getWebhookHealth({ workspaceId: "token_ws" })).accepted).toBe(0n); // it exists now
    const health = await createClient(Health, createGrpcTransport({ baseUrl })).check({});
    expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });
});

describe("a start-up step that never ends", () => {
  it("fails start-up by STARTUP_TIMEOUT_SECONDS, naming the step, instead of leaving the process unready", async () => {
    let release!: (error: Error) => void;
    const hung = new Promise<never>((_, reject) => (release = reject));
    const definition: ServiceDefinition = { name: "hung", port: 0, build: () => hung };
    await expect(startService(definition, testBaseConfig({ startupTimeoutMs: 1000 }))).rejects.toThrow(
      /did not finish within STARTUP_TIMEOUT_SECONDS \(1 s\); it was building the service/,
    );
    release(new Error("released by the test")); // the abandoned start-up closes its connections
  });
});
