/**
 * SetProviderApiKey / RemoveProviderApiKey against a running gateway: the key is stored sealed, only its
 * fingerprint comes back (from the RPCs and from GetWebhookHealth), changes are audited, and malformed
 * keys or providers without reconciliation are refused naming the field.
 */
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { toJsonString } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditAction } from "../../gen/ngsreach/events/v1/audit_pb.ts";
import { Provider } from "../../gen/ngsreach/events/v1/provider_pb.ts";
import { GetWebhookHealthResponseSchema, SetProviderApiKeyResponseSchema, WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { newWebhookSecret } from "../../cli/sign.ts";
import { testBaseConfig, testSecretsKey, uniqueName, waitFor } from "../../test/harness.ts";
import { connectMongo, type MongoHandles } from "../shared/mongo.ts";
import { startService, type RunningService } from "../shared/service-host.ts";
import { gatewayService, loadGatewaySettings } from "./service.ts";
import { openSecret, parseSecretKeys, secretFingerprint } from "./workspace/secret-box.ts";

const codeOf = (call: Promise<unknown>) =>
  call.then(() => "ok", (error: unknown) => `${Code[ConnectError.from(error).code]}: ${ConnectError.from(error).rawMessage}`);

describe("provider API keys", () => {
  const config = testBaseConfig();
  let gateway: RunningService;
  let settings: Client<typeof WorkspaceSettingsService>;
  let mongo: MongoHandles;
  const apiKey = `re_${Buffer.alloc(18, 3).toString("hex")}`;

  beforeAll(async () => {
    gateway = await startService(gatewayService(loadGatewaySettings({ GATEWAY_PORT: "0", SECRETS_KEY: testSecretsKey })), config);
    settings = createClient(WorkspaceSettingsService, createConnectTransport({ baseUrl: `http://127.0.0.1:${gateway.port}`, httpVersion: "1.1" }));
    mongo = await connectMongo(config.mongoUri, config.mongoDatabase, "api-keys-test");
  });
  afterAll(async () => {
    await gateway?.stop();
    await mongo?.close();
  });

  it("stores the key sealed for its workspace and returns only its fingerprint", async () => {
    const ws = uniqueName("ws");
    const set = await settings.setProviderApiKey({ workspaceId: ws, apiKey, actor: "ann", note: "reconcile" });
    expect(set.apiKey).toMatchObject({ provider: Provider.RESEND, fingerprint: secretFingerprint(apiKey) });
    expect(toJsonString(SetProviderApiKeyResponseSchema, set)).not.toContain(apiKey.slice(3));

    const doc = await mongo.db.collection("gateway_workspaces").findOne({ _id: ws as never });
    const sealed = doc!.apiKeys[0].sealed as string;
    expect(sealed).not.toContain(apiKey.slice(3));
    const keys = parseSecretKeys(testSecretsKey);
    expect(openSecret(keys, ws, sealed, "provider-api-key")).toBe(apiKey);
    expect(() => openSecret(keys, ws, sealed)).toThrow(); // not usable as a webhook secret
    expect(() => openSecret(keys, uniqueName("other"), sealed, "provider-api-key")).toThrow();

    // A workspace with an API key but no webhook secret still has no webhook endpoint.
    const health = await settings.getWebhookHealth({ workspaceId: ws });
    expect(health.secrets).toEqual([]);
    expect(health.apiKeys).toMatchObject([{ provider: Provider.RESEND, fingerprint: secretFingerprint(apiKey), keyId: "test", undecryptable: false }]);
    expect(toJsonString(GetWebhookHealthResponseSchema, health)).not.toContain(apiKey.slice(3));
  });

  it("replaces the key, keeps webhook secrets as they are, and removes it idempotently, auditing each change", async () => {
    const ws = uniqueName("ws");
    const secret = newWebhookSecret();
    await settings.setWebhookSecret({ workspaceId: ws, secret });
    await settings.setProviderApiKey({ workspaceId: ws, apiKey, provider: Provider.RESEND });
    await settings.setProviderApiKey({ workspaceId: ws, apiKey }); // the same key: a no-op
    const other = `re_${Buffer.alloc(18, 4).toString("hex")}`;
    await settings.setProviderApiKey({ workspaceId: ws, apiKey: other, actor: "bob" });
    const health = await settings.getWebhookHealth({ workspaceId: ws });
    expect(health.apiKeys.map((key) => key.fingerprint)).toEqual([secretFingerprint(other)]);
    expect(health.secrets.map((info) => info.fingerprint)).toEqual([secretFingerprint(secret)]);

    expect(await settings.removeProviderApiKey({ workspaceId: ws, actor: "bob" })).toMatchObject({ removed: true });
    expect(await settings.removeProviderApiKey({ workspaceId: ws })).toMatchObject({ removed: false });
    expect((await settings.getWebhookHealth({ workspaceId: ws })).apiKeys).toEqual([]);

    const entries = await waitFor(async () => {
      const listed = (await settings.listAuditEntries({ workspaceId: ws })).entries;
      return listed.length === 4 ? listed : undefined;
    });
    expect(entries.map((entry) => [entry.action, entry.target])).toEqual([
      [AuditAction.REMOVE_PROVIDER_API_KEY, `resend:${secretFingerprint(other)}`],
      [AuditAction.SET_PROVIDER_API_KEY, `resend:${secretFingerprint(other)}`],
      [AuditAction.SET_PROVIDER_API_KEY, `resend:${secretFingerprint(apiKey)}`],
      [AuditAction.SET_WEBHOOK_SECRET, secretFingerprint(secret)],
    ]);
  });

  it("refuses malformed keys and providers without reconciliation, naming the field and never echoing the key", async () => {
    const ws = uniqueName("ws");
    expect(await codeOf(settings.setProviderApiKey({ workspaceId: ws, apiKey: "sk_live_abcdefghijkl" }))).toBe("InvalidArgument: api_key: a Resend API key starts with re_");
    expect(await codeOf(settings.setProviderApiKey({ workspaceId: ws, apiKey: "re_short" }))).toBe("InvalidArgument: api_key: must be 10 to 200 characters of [A-Za-z0-9_-]");
    expect(await codeOf(settings.setProviderApiKey({ workspaceId: ws, apiKey: `re_${"a".repeat(300)}` }))).toMatch(/^InvalidArgument: api_key:/);
    expect(await codeOf(settings.setProviderApiKey({ workspaceId: ws, apiKey: "re_has spaces in it" }))).toMatch(/^InvalidArgument: api_key:/);
    expect(await codeOf(settings.setProviderApiKey({ workspaceId: ws, apiKey, provider: Provider.SENDGRID }))).toBe("InvalidArgument: provider: only RESEND API keys can be stored for now");
    expect(await codeOf(settings.removeProviderApiKey({ workspaceId: ws, provider: Provider.SES }))).toMatch(/^InvalidArgument: provider:/);
    expect(await codeOf(settings.setProviderApiKey({ workspaceId: "bad id", apiKey }))).toMatch(/^InvalidArgument: workspace_id/);
    expect(await mongo.db.collection("gateway_workspaces").findOne({ _id: ws as never })).toBeNull();
  });
});
