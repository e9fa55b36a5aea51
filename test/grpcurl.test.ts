import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcurlBin } from "../tools/local-servers.ts";
import { shared, testSecretsKey, uniqueName } from "./harness.ts";
import { spawnService, type ServiceProcess } from "./processes.ts";

const run = promisify(execFile);
const token = "ops-console:grpcurl-test-token-0123456789";

/** What an operator types: grpcurl with the internal token, no .proto files (server reflection). */
async function grpcurl(service: ServiceProcess, command: string[], options: string[] = []): Promise<string> {
  const bearer = ["-H", `authorization: Bearer ${token.split(":")[1]}`];
  const { stdout } = await run(grpcurlBin, ["-plaintext", "-max-time", "20", ...bearer, ...options, `127.0.0.1:${service.port}`, ...command]);
  return stdout;
}

const calls: Record<string, { service: string; method: string; request: object; answer: RegExp }> = {
  "webhook-gateway": {
    service: "ngsreach.workspace.v1.WorkspaceSettingsService",
    method: "ListAuditEntries",
    request: { workspaceId: "ws-grpcurl" },
    answer: /^\{\s*\}\s*$/,
  },
  "delivery-status": {
    service: "ngsreach.delivery.v1.DeliveryStatusService",
    method: "ListSends",
    request: { workspaceId: "ws-grpcurl", campaignId: "c1" },
    answer: /^\{\s*\}\s*$/,
  },
  "campaign-stats": {
    service: "ngsreach.stats.v1.CampaignStatsService",
    method: "GetCampaignStats",
    request: { workspaceId: "ws-grpcurl", campaignId: "c1" },
    answer: /"campaignId": "c1"/,
  },
  suppression: {
    service: "ngsreach.suppression.v1.SuppressionService",
    method: "CheckSuppressions",
    request: { workspaceId: "ws-grpcurl", emails: ["reader@example.com"] },
    answer: /"email": "reader@example.com"/,
  },
};

describe.each(Object.keys(calls))("%s through grpcurl and server reflection", (name) => {
  let service: ServiceProcess;
  const call = calls[name]!;

  beforeAll(async () => {
    service = await spawnService("node", name, {
      NATS_URL: shared.natsUrl,
      MONGODB_URI: shared.mongoUri,
      MONGODB_DATABASE: uniqueName("grpcurl"),
      SECRETS_KEY: testSecretsKey,
      INTERNAL_TOKEN: token,
    });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it("lists its services, describes its RPCs and answers one, without the .proto files", async () => {
    const listed = (await grpcurl(service, ["list"])).trim().split("\n");
    expect(listed).toEqual(expect.arrayContaining([call.service, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"]));
    expect(await grpcurl(service, ["describe", call.service])).toContain(`rpc ${call.method} (`);
    expect(await grpcurl(service, [`${call.service}/${call.method}`], ["-d", JSON.stringify(call.request)])).toMatch(call.answer);
  });

  it("refuses reflection without the internal token", async () => {
    const refused = await run(grpcurlBin, ["-plaintext", "-max-time", "20", `127.0.0.1:${service.port}`, "list"]).catch((error: { stderr: string }) => error);
    expect((refused as { stderr?: string }).stderr ?? "").toMatch(/Unauthenticated/i);
  });
});
