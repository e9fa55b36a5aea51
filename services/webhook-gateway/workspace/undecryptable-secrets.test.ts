import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditAction } from "../../../gen/ngsreach/events/v1/audit_pb.ts";
import { WebhookState, type ReencryptSecretsResponse } from "../../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { newWebhookSecret } from "../../../cli/sign.ts";
import { sampleEmailEvent } from "../../../cli/resend-samples.ts";
import { privateNats, shared, testBaseConfig, uniqueName, waitFor } from "../../../test/harness.ts";
import { createLogger } from "../../shared/log.ts";
import { connectMongo, type MongoHandles } from "../../shared/mongo.ts";
import { postSigned, postWebhook, startGateway, type TestGateway } from "../../../test/support/gateway-test-kit.ts";
import { reencryptSecrets } from "./reencrypt.ts";
import { openSecret, parseSecretKeys, resealSecret, sealSecret, secretFingerprint } from "./secret-box.ts";
import { WorkspaceRepository, type StoredSecret } from "./workspace-repository.ts";

const material = (byte: number) => Buffer.alloc(32, byte).toString("base64");
const oldKey = `old:${material(1)}`;
const newKey = `new:${material(2)}`;
const body = JSON.stringify(sampleEmailEvent("email.delivered", { emailId: "e-keys" }));

describe("webhook secrets the gateway's SECRETS_KEY cannot decrypt", () => {
  /** Holds only the old key (sealed the secrets); lost: only the new key; both: new first, old after it. */
  let old: TestGateway, lost: TestGateway, both: TestGateway;
  const workspaces = () => old.service.context.mongo.db.collection<{ _id: string; secrets: StoredSecret[] }>("gateway_workspaces");

  beforeAll(async () => {
    const config = testBaseConfig({ natsUrl: (await privateNats()).url }); // one database for the three
    old = await startGateway(config, { SECRETS_KEY: oldKey });
    lost = await startGateway(config, { SECRETS_KEY: newKey });
    both = await startGateway(config, { SECRETS_KEY: `${newKey},${oldKey}` });
  });
  afterAll(async () => {
    for (const gateway of [old, lost, both]) await gateway?.service.stop();
  });

  it("answers 503, reports the key id in webhook health and /metrics, and logs it once per key id, not per request", async () => {
    const [workspace, another] = [uniqueName("ws"), uniqueName("ws")];
    const secret = newWebhookSecret();
    await old.settings.setWebhookSecret({ workspaceId: workspace, secret, actor: "test", note: "" });
    await old.settings.setWebhookSecret({ workspaceId: another, secret: newWebhookSecret(), actor: "test", note: "" });

    for (let i = 0; i < 12; i++) {
      expect(await postSigned(lost.url, workspace, secret, body)).toMatchObject({ status: 503, body: { error: "secret_undecryptable" } });
    }
    expect((await postSigned(lost.url, another, secret, body)).status).toBe(503);
    expect((await postWebhook(lost.url, workspace, body)).status).toBe(401); // unsigned: no key needed to tell

    const lines = lost.logs.filter((line) => line.includes("cannot be decrypted"));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "error", keyId: "old" });
    expect(lines[0]).toContain("ngsreach secrets reencrypt");
    expect(lost.logs.filter((line) => line.includes("webhook not stored"))).toEqual([]);

    const metrics = await (await fetch(`${lost.url}/metrics`)).text();
    expect(metrics).toContain('ngsreach_webhook_secret_undecryptable_total{key_id="old"} 13');
    expect(metrics).toContain('ngsreach_webhook_requests_total{status="503",outcome="secret_undecryptable",provider="resend"} 13');

    const health = await waitFor(async () => {
      const current = await lost.settings.getWebhookHealth({ workspaceId: workspace });
      return current.secretUndecryptable === 12n ? current : undefined;
    }, { what: "the 503s counted in webhook health" });
    expect(health.state).toBe(WebhookState.SECRET_UNDECRYPTABLE);
    expect(health.undecryptableKeyIds).toEqual(["old"]);
    expect(health.secrets.map(({ keyId, undecryptable }) => ({ keyId, undecryptable }))).toEqual([{ keyId: "old", undecryptable: true }]);
    expect(health.unavailable).toBe(0n);
    const fine = await old.settings.getWebhookHealth({ workspaceId: workspace });
    expect(fine.state).toBe(WebhookState.OK);
    expect(fine.secrets[0]).toMatchObject({ keyId: "old", undecryptable: false });
  });

  it("re-seals every secret under the first key, page by page, idempotently and audited, and leaves what it cannot open as it was", async () => {
    const secrets = new Map<string, string>();
    for (let i = 0; i < 5; i++) {
      const workspaceId = uniqueName("ws");
      secrets.set(workspaceId, newWebhookSecret());
      await old.settings.setWebhookSecret({ workspaceId, secret: secrets.get(workspaceId)!, actor: "test", note: "" });
    }
    const rotated = [...secrets.keys()][0]!;
    await old.settings.rotateWebhookSecret({ workspaceId: rotated, newSecret: newWebhookSecret(), actor: "test", note: "" }); // two secrets
    const orphan = uniqueName("ws"); // sealed with a key no gateway holds
    const orphanSealed = sealSecret(parseSecretKeys(`gone:${material(3)}`), orphan, newWebhookSecret());
    await workspaces().insertOne({
      _id: orphan,
      secrets: [{ sealed: orphanSealed, fingerprint: "0badc0de", role: "current", createdAt: new Date() }],
      version: 1,
      updatedAt: new Date(),
    } as never);

    const run = async () => {
      const pages: ReencryptSecretsResponse[] = [];
      let pageToken = "";
      do {
        const page = await both.settings.reencryptSecrets({ pageSize: 2, pageToken, actor: "ops", note: "drop key old" });
        pages.push(page);
        pageToken = page.nextPageToken;
      } while (pageToken && pages.length < 100);
      const sum = (field: "workspacesScanned" | "secretsResealed" | "secretsCurrent" | "secretsUndecryptable" | "workspacesContended") =>
        pages.reduce((total, page) => total + page[field], 0);
      return {
        pages: pages.length,
        keyId: pages[0]!.keyId,
        scanned: sum("workspacesScanned"),
        resealed: sum("secretsResealed"),
        current: sum("secretsCurrent"),
        undecryptable: sum("secretsUndecryptable"),
        contended: sum("workspacesContended"),
        undecryptableIn: pages.flatMap((page) => page.undecryptableWorkspaceIds),
      };
    };
    const total = await workspaces().countDocuments();
    const first = await run();
    expect(first).toMatchObject({ pages: Math.ceil(total / 2), keyId: "new", scanned: total, undecryptable: 1, contended: 0, undecryptableIn: [orphan] });
    expect(first.resealed).toBeGreaterThanOrEqual(secrets.size + 1);
    for (const doc of await workspaces().find({ _id: { $ne: orphan } }).toArray()) {
      for (const stored of doc.secrets) expect(stored.sealed, doc._id).toMatch(/^v1\.new\./);
    }
    expect((await workspaces().findOne({ _id: orphan }))!.secrets[0]!.sealed).toBe(orphanSealed);

    const again = await run();
    expect(again).toMatchObject({ scanned: total, resealed: 0, current: first.resealed + first.current, undecryptable: 1 });

    // The gateway holding only the new key now verifies them (the rewrite also dropped its cached state).
    const [workspaceId, secret] = [...secrets].at(-1)!;
    await waitFor(async () => (await postSigned(lost.url, workspaceId, secret, body)).status === 200, { what: "the new-key gateway to verify" });
    expect((await lost.settings.getWebhookHealth({ workspaceId })).state).toBe(WebhookState.OK);
    const audit = await waitFor(async () => {
      const { entries } = await both.settings.listAuditEntries({ workspaceId });
      return entries.find((entry) => entry.action === AuditAction.REENCRYPT_WEBHOOK_SECRETS);
    }, { what: "the re-encryption's audit entry" });
    expect(audit).toMatchObject({ actor: "ops", target: secretFingerprint(secret) });
    expect(audit.note).toContain('"new"');
  });

  it("refuses a negative page size and an altered page token, naming the field", async () => {
    const negative = await both.settings.reencryptSecrets({ pageSize: -1, pageToken: "", actor: "", note: "" }).catch((error) => error);
    expect(negative).toBeInstanceOf(ConnectError);
    expect(negative).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^page_size: /) });
    const { nextPageToken } = await both.settings.reencryptSecrets({ pageSize: 1, pageToken: "", actor: "", note: "" });
    const altered = await both.settings.reencryptSecrets({ pageSize: 1, pageToken: `x${nextPageToken}`, actor: "", note: "" }).catch((error) => error);
    expect(altered).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^page_token: /) });
  });
});

describe("re-encryption racing a secret change", () => {
  let mongo: MongoHandles | undefined;
  afterAll(async () => mongo?.close());

  it("keeps the change that won the version guard, and re-seals the document as it is after it", async () => {
    mongo = await connectMongo(shared.mongoUri, uniqueName("test"), "reencrypt-test");
    const [oldKeys, keys] = [parseSecretKeys(oldKey), parseSecretKeys(`${newKey},${oldKey}`)];
    const workspaceId = uniqueName("ws");
    const stored = (secret: string, role: StoredSecret["role"]): StoredSecret => ({
      sealed: sealSecret(oldKeys, workspaceId, secret),
      fingerprint: secretFingerprint(secret),
      role,
      createdAt: new Date(),
    });
    const [first, second] = [newWebhookSecret(), newWebhookSecret()];
    let raced = false;
    // The first save finds a rotation (made through another instance) stored a moment before it.
    const repository = new (class extends WorkspaceRepository {
      override async save(...args: Parameters<WorkspaceRepository["save"]>) {
        if (!raced) {
          raced = true;
          await super.save(workspaceId, [stored(second, "current"), stored(first, "previous")], args[2], new Date());
        }
        return await super.save(...args);
      }
    })(mongo.db);
    await repository.save(workspaceId, [stored(first, "current")], 0, new Date());

    const deps = {
      repository,
      audits: { record: async () => {} },
      announce: async () => {},
      log: createLogger({}, "error"),
      activeKeyId: keys.activeId,
      reseal: (id: string, sealed: string) => resealSecret(keys, id, sealed),
      resealApiKey: (id: string, sealed: string) => resealSecret(keys, id, sealed, "provider-api-key"),
      now: () => new Date(),
    };
    const page = await reencryptSecrets(deps, { pageSize: 0, pageToken: "" }, { caller: "test", actor: "test", note: "" });
    expect(raced).toBe(true);
    expect(page).toMatchObject({ workspacesScanned: 1, workspacesResealed: 1, secretsResealed: 2, workspacesContended: 0 });
    const record = (await repository.find(workspaceId))!;
    expect(record.secrets.map((secret) => openSecret(parseSecretKeys(newKey), workspaceId, secret.sealed))).toEqual([second, first]);
  });
});
