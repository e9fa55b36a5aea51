import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { testBaseConfig, testSecretsKey, uniqueName } from "../../test/harness.ts";
import { connectMongo, type MongoHandles } from "../shared/mongo.ts";
import { parseSecretKeys, SecretUndecryptableError } from "../shared/secret-box.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { gatewayService, loadGatewaySettings } from "../webhook-gateway/service.ts";
import { ApiKeyRepository } from "./api-key-repository.ts";

describe("the API key delivery-status reconciles with", () => {
  const config = testBaseConfig();
  let gateway: RunningService;
  let mongo: MongoHandles;
  const settings = () => createClient(WorkspaceSettingsService, createConnectTransport({ baseUrl: `http://127.0.0.1:${gateway.port}`, httpVersion: "1.1" }));

  beforeAll(async () => {
    gateway = await startService(gatewayService(loadGatewaySettings({ GATEWAY_PORT: "0", SECRETS_KEY: testSecretsKey })), config);
    mongo = await connectMongo(config.mongoUri, config.mongoDatabase, "api-key-repository-test");
  });
  afterAll(async () => {
    await gateway?.stop();
    await mongo?.close();
  });

  it("is the key set through the gateway, opened with the same SECRETS_KEY, and absent once removed", async () => {
    const ws = uniqueName("ws");
    const apiKey = `re_${Buffer.alloc(16, 9).toString("hex")}`;
    const set = await settings().setProviderApiKey({ workspaceId: ws, apiKey });
    const repository = new ApiKeyRepository(mongo.db, parseSecretKeys(testSecretsKey));
    expect(await repository.find(ws, "resend")).toEqual({ apiKey, fingerprint: set.apiKey!.fingerprint });
    expect(await repository.find(ws, "sendgrid")).toBeUndefined();
    expect(await repository.find(uniqueName("unknown"), "resend")).toBeUndefined();

    await settings().removeProviderApiKey({ workspaceId: ws });
    expect(await repository.find(ws, "resend")).toBeUndefined();
  });

  it("names the missing key id, never the key, when its SECRETS_KEY cannot open it", async () => {
    const ws = uniqueName("ws");
    await settings().setProviderApiKey({ workspaceId: ws, apiKey: `re_${Buffer.alloc(16, 8).toString("hex")}` });
    const elsewhere = new ApiKeyRepository(mongo.db, parseSecretKeys(`other:${Buffer.alloc(32, 5).toString("base64")}`));
    const error = await elsewhere.find(ws, "resend").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SecretUndecryptableError);
    expect((error as SecretUndecryptableError).keyId).toBe("test");
  });
});
