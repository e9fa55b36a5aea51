import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.ts";
import { shared, uniqueName } from "./harness.ts";
import { spawnService } from "./processes.ts";

const services = ["webhook-gateway", "delivery-status", "campaign-stats", "suppression"];

describe.each(services)("%s, run by Deno from the same source", (name) => {
  it("answers gRPC and Connect JSON health checks and stops cleanly on SIGTERM", async () => {
    const service = await spawnService("deno", name, {
      NATS_URL: shared.natsUrl,
      MONGODB_URI: shared.mongoUri,
      MONGODB_DATABASE: uniqueName("deno"),
      SECRETS_KEY: `test:${Buffer.alloc(32, 7).toString("base64")}`,
    });
    try {
      const grpc = await createClient(Health, createGrpcTransport({ baseUrl: service.baseUrl })).check({});
      expect(grpc.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      const connect = await fetch(`${service.baseUrl}/grpc.health.v1.Health/Check`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(await connect.json()).toEqual({ status: "SERVING" });
    } finally {
      expect(await service.stop()).toBe(0);
    }
  });
});
