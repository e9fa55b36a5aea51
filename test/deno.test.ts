import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.ts";
import { WorkspaceSettingsService } from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { sampleEmailEvent } from "../cli/resend-samples.ts";
import { newWebhookSecret } from "../cli/sign.ts";
import { natsReader, postSigned, postWebhook, storedEvents } from "./support/gateway-test-kit.ts";
import { CampaignStatsService } from "../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { DeliveryStatusService, SendStatus } from "../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { SuppressionService } from "../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { shared, testSecretsKey, uniqueName, waitFor } from "./harness.ts";
import { spawnService } from "./processes.ts";
import { freePort, repoRoot } from "../tools/local-servers.ts";
import { Provider } from "../gen/ngsreach/events/v1/provider_pb.ts";
import { postmarkRecord, sesMessage } from "../cli/provider-samples.ts";
import { postmarkRequest, sesRequest } from "../cli/provider-sign.ts";
import { postProvider, providerSenders } from "./support/provider-senders.ts";
import { publishResendEvent } from "./publish-events.ts";

const services = ["webhook-gateway", "delivery-status", "campaign-stats", "suppression"];

describe.each(services)("%s, run by Deno from the same source", (name) => {
  it("answers gRPC and Connect JSON health checks and stops cleanly on SIGTERM", async () => {
    const service = await spawnService("deno", name, {
      NATS_URL: shared.natsUrl,
      MONGODB_URI: shared.mongoUri,
      MONGODB_DATABASE: uniqueName("deno"),
      SECRETS_KEY: testSecretsKey,
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
      // prom-client's process metrics and the scrape-time gauges work on Deno too.
      const metrics = await (await fetch(`${service.baseUrl}/metrics`)).text();
      expect(metrics).toMatch(/^process_cpu_seconds_total \d/m);
      expect(metrics).toMatch(/^nodejs_heap_size_used_bytes \d/m);
      expect(metrics).toMatch(/^ngsreach_nats_up 1$/m);
      expect(metrics).toMatch(/^ngsreach_stream_messages\{stream="RESEND_EVENTS"\} \d+$/m);
    } finally {
      expect(await service.stop()).toBe(0);
    }
  });
});

describe("the webhook gateway on Deno", () => {
  it("refuses GATEWAY_PROCESSES above 1 at start-up, naming the variable (Deno's node:cluster is a stub)", async () => {
    const deno = join(repoRoot, "node_modules", ".bin", "deno");
    const run = promisify(execFile)(deno, ["run", "-A", join(repoRoot, "services", "webhook-gateway", "main.ts")], {
      cwd: repoRoot,
      env: { ...process.env, GATEWAY_PROCESSES: "2", GATEWAY_PORT: String(await freePort()), NATS_URL: shared.natsUrl, MONGODB_URI: shared.mongoUri, SECRETS_KEY: testSecretsKey },
      timeout: 60_000,
    });
    const failed = await run.then(() => undefined, (error: { code?: number; stderr?: string }) => error);
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain("GATEWAY_PROCESSES: Deno runs the gateway as one process");
  });

  it("answers the main rows of the status table and stores a verified event exactly once", async () => {
    const gateway = await spawnService("deno", "webhook-gateway", {
      NATS_URL: shared.natsUrl,
      MONGODB_URI: shared.mongoUri,
      MONGODB_DATABASE: uniqueName("deno"),
      SECRETS_KEY: testSecretsKey,
    });
    const reader = await natsReader(shared.natsUrl);
    try {
      const workspace = uniqueName("ws");
      const secret = newWebhookSecret();
      const settings = createClient(WorkspaceSettingsService, createGrpcTransport({ baseUrl: gateway.baseUrl }));
      await settings.setWebhookSecret({ workspaceId: workspace, secret, actor: "deno-test", note: "" });
      const body = JSON.stringify(sampleEmailEvent("email.delivered"));
      const now = Math.floor(Date.now() / 1000);
      const statuses = {
        accepted: (await postSigned(gateway.baseUrl, workspace, secret, body, { id: "msg_deno" })).status,
        duplicate: (await postSigned(gateway.baseUrl, workspace, secret, body, { id: "msg_deno" })).status,
        badSignature: (await postSigned(gateway.baseUrl, workspace, newWebhookSecret(), body)).status,
        expired: (await postSigned(gateway.baseUrl, workspace, secret, body, { timestamp: now - 400 })).status,
        unknownWorkspace: (await postSigned(gateway.baseUrl, uniqueName("nobody"), secret, body)).status,
        badWorkspaceId: (await postWebhook(gateway.baseUrl, "bad id", body)).status,
        badBody: (await postSigned(gateway.baseUrl, workspace, secret, "{")).status,
        tooLarge: (await postSigned(gateway.baseUrl, workspace, secret, JSON.stringify({ type: "x", pad: "x".repeat(300_000) }))).status,
        wrongMethod: (await fetch(`${gateway.baseUrl}/webhooks/resend?workspaceId=${workspace}`, { method: "PUT" })).status,
      };
      expect(statuses).toEqual({
        accepted: 200,
        duplicate: 200,
        badSignature: 401,
        expired: 401,
        unknownWorkspace: 404,
        badWorkspaceId: 400,
        badBody: 400,
        tooLarge: 413,
        wrongMethod: 405,
      });
      expect((await storedEvents(reader, workspace)).map((event) => event.svixId)).toEqual(["msg_deno"]);
    } finally {
      await reader.nc.close();
      expect(await gateway.stop()).toBe(0);
    }
  });
});

describe("the other providers' endpoints on Deno", () => {
  it("verify and store an event of SES (SNS signature v1 and v2), SendGrid, Postmark and Mailgun, and refuse a forgery", async () => {
    const kit = await providerSenders();
    const gateway = await spawnService("deno", "webhook-gateway", {
      NATS_URL: shared.natsUrl,
      MONGODB_URI: shared.mongoUri,
      MONGODB_DATABASE: uniqueName("deno"),
      SECRETS_KEY: testSecretsKey,
      SNS_EXTRA_CERT_URL_PREFIX: kit.certificates.prefix,
    });
    const reader = await natsReader(shared.natsUrl);
    try {
      const workspaceId = uniqueName("ws");
      const settings = createClient(WorkspaceSettingsService, createGrpcTransport({ baseUrl: gateway.baseUrl }));
      const providers = { ses: Provider.SES, sendgrid: Provider.SENDGRID, postmark: Provider.POSTMARK, mailgun: Provider.MAILGUN } as const;
      for (const [name, provider] of Object.entries(providers)) {
        await settings.setWebhookSecret({ workspaceId, secret: kit.senders[name as keyof typeof providers].credential, provider, actor: "deno-test", note: "" });
      }
      const sample = { messageId: "deno-m1", to: ["reader@example.com"] };
      const answers: Record<string, number> = {};
      for (const name of Object.keys(providers) as (keyof typeof providers)[]) {
        answers[name] = (await postProvider(gateway.baseUrl, name, workspaceId, kit.senders[name].request("hard_bounce", sample))).status;
      }
      answers.sesVersion1 = (await postProvider(gateway.baseUrl, "ses", workspaceId, sesRequest(kit.sns, sesMessage("delivered", sample), { version: "1" }))).status;
      const forged = postmarkRequest("hooks:not-the-password-at-all", postmarkRecord("hard_bounce", sample));
      answers.forgery = (await postProvider(gateway.baseUrl, "postmark", workspaceId, forged)).status;
      expect(answers).toEqual({ ses: 200, sendgrid: 200, postmark: 200, mailgun: 200, sesVersion1: 200, forgery: 401 });
      const stored = await storedEvents(reader, workspaceId);
      expect(stored.map((event) => event.svixId.split(":")[0]).sort()).toEqual(["mailgun", "postmark", "sendgrid", "ses", "ses"]);
    } finally {
      await reader.nc.close();
      expect(await gateway.stop()).toBe(0);
      await kit.close();
    }
  });
});

describe("the three consumers on Deno", () => {
  it("apply events from JetStream and answer their queries over gRPC", async () => {
    const env = { NATS_URL: shared.natsUrl, MONGODB_URI: shared.mongoUri, MONGODB_DATABASE: uniqueName("deno"), SECRETS_KEY: testSecretsKey };
    const [delivery, stats, suppression] = await Promise.all(
      ["delivery-status", "campaign-stats", "suppression"].map((name) => spawnService("deno", name, env)),
    );
    const reader = await natsReader(shared.natsUrl);
    try {
      const workspaceId = uniqueName("ws");
      const event = (type: string) =>
        sampleEmailEvent(type, { emailId: "deno-e1", to: ["Ann@Example.COM"], tags: { campaign_id: "deno-c", subscriber_id: "sub-1" } });
      for (const type of ["email.sent", "email.delivered", "email.bounced"]) await publishResendEvent(reader.js, workspaceId, event(type));

      const sends = createClient(DeliveryStatusService, createGrpcTransport({ baseUrl: delivery!.baseUrl }));
      const campaigns = createClient(CampaignStatsService, createGrpcTransport({ baseUrl: stats!.baseUrl }));
      const addresses = createClient(SuppressionService, createGrpcTransport({ baseUrl: suppression!.baseUrl }));
      const send = await waitFor(
        async () => {
          const found = (await sends.getSend({ workspaceId, emailId: "deno-e1" })).send;
          return found?.status === SendStatus.BOUNCED ? found : undefined;
        },
        { what: "delivery-status on Deno to apply the bounce" },
      );
      expect(send.campaignId).toBe("deno-c");
      const counts = await waitFor(
        async () => {
          const found = (await campaigns.getCampaignStats({ workspaceId, campaignId: "deno-c" })).stats;
          return found?.hardBounced === 1n ? found : undefined;
        },
        { what: "campaign-stats on Deno to count the bounce" },
      );
      expect({ sent: counts.sent, delivered: counts.delivered }).toEqual({ sent: 1n, delivered: 1n });
      const check = await waitFor(
        async () => {
          const [result] = (await addresses.checkSuppressions({ workspaceId, emails: ["  Ann@EXAMPLE.com "] })).results;
          return result?.suppressed ? result : undefined;
        },
        { what: "suppression on Deno to suppress the address" },
      );
      expect(check.normalizedEmail).toBe("Ann@example.com");
    } finally {
      await reader.nc.close();
      const codes = await Promise.all([delivery, stats, suppression].map((service) => service!.stop()));
      expect(codes).toEqual([0, 0, 0]);
    }
  });
});
