import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../../test/harness.ts";
import { createLogger } from "../../shared/log.ts";
import { connectMongo, type MongoHandles } from "../../shared/mongo.ts";
import { setProviderApiKey } from "./api-keys.ts";
import { reencryptSecrets } from "./reencrypt.ts";
import { openSecret, parseSecretKeys, resealSecret, sealSecret } from "./secret-box.ts";
import { setWebhookSecret } from "./secrets.ts";
import { WorkspaceRepository } from "./workspace-repository.ts";
import { newWebhookSecret } from "../../../cli/sign.ts";

const oldKeys = parseSecretKeys(`old:${Buffer.alloc(32, 1).toString("base64")}`);
const newKeys = parseSecretKeys(`new:${Buffer.alloc(32, 2).toString("base64")}`);
const bothKeys = parseSecretKeys(`new:${Buffer.alloc(32, 2).toString("base64")},old:${Buffer.alloc(32, 1).toString("base64")}`);

describe("provider API keys at rest", () => {
  let mongo: MongoHandles;
  let repository: WorkspaceRepository;
  const audit = { caller: "test", actor: "ann", note: "" };
  const deps = () => ({
    repository,
    audits: { record: async () => {} },
    announce: async () => {},
    log: createLogger({}, "error"),
    seal: (workspaceId: string, secret: string) => sealSecret(oldKeys, workspaceId, secret),
    sealApiKey: (workspaceId: string, key: string) => sealSecret(oldKeys, workspaceId, key, "provider-api-key"),
    now: () => new Date(),
  });

  beforeAll(async () => {
    mongo = await connectMongo(shared.mongoUri, uniqueName("test"), "api-keys-test");
    repository = new WorkspaceRepository(mongo.db);
  });
  afterAll(async () => mongo?.close());

  it("are re-sealed under the first key by ReencryptSecrets, with the webhook secrets, so the old key can go", async () => {
    const ws = uniqueName("ws");
    const secret = newWebhookSecret();
    const apiKey = "re_reencrypt_0123456789";
    await setWebhookSecret(deps(), ws, secret, audit);
    await setProviderApiKey(deps(), ws, "resend", apiKey, audit);
    const reencrypt = {
      ...deps(),
      activeKeyId: bothKeys.activeId,
      reseal: (workspaceId: string, sealed: string) => resealSecret(bothKeys, workspaceId, sealed),
      resealApiKey: (workspaceId: string, sealed: string) => resealSecret(bothKeys, workspaceId, sealed, "provider-api-key"),
    };
    let token = "";
    let resealed = 0;
    do {
      const page = await reencryptSecrets(reencrypt, { pageSize: 100, pageToken: token }, audit);
      resealed += page.secretsResealed;
      token = page.nextPageToken;
    } while (token);
    expect(resealed).toBe(2);
    const record = (await repository.find(ws))!;
    expect(openSecret(newKeys, ws, record.secrets[0]!.sealed)).toBe(secret);
    expect(record.apiKeys).toHaveLength(1);
    expect(openSecret(newKeys, ws, record.apiKeys![0]!.sealed, "provider-api-key")).toBe(apiKey);
  });

  it("are kept as they are when a webhook secret of the same workspace changes", async () => {
    const ws = uniqueName("ws");
    await setProviderApiKey(deps(), ws, "resend", "re_kept_0123456789", audit);
    await setWebhookSecret(deps(), ws, newWebhookSecret(), audit);
    const record = (await repository.find(ws))!;
    expect(openSecret(oldKeys, ws, record.apiKeys![0]!.sealed, "provider-api-key")).toBe("re_kept_0123456789");
    expect(record.secrets).toHaveLength(1);
  });
});
