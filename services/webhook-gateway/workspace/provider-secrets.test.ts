import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../../test/harness.ts";
import type { AuditRecord } from "../../shared/audit.ts";
import { InvalidArgumentError } from "../../shared/errors.ts";
import { createLogger } from "../../shared/log.ts";
import { connectMongo, type MongoHandles } from "../../shared/mongo.ts";
import type { Provider } from "../providers/provider-adapter.ts";
import { reencryptSecrets } from "./reencrypt.ts";
import { credentialOf } from "../../../test/support/provider-credentials.ts";
import { openSecret, parseSecretKeys, resealSecret, sealSecret, secretFingerprint } from "./secret-box.ts";
import { removeWebhookSecret, rotateWebhookSecret, setWebhookSecret, type SecretDeps } from "./secrets.ts";
import { WorkspaceRepository, type StoredSecret } from "./workspace-repository.ts";

const oldKeys = parseSecretKeys(`old:${Buffer.alloc(32, 1).toString("base64")}`);
const newKeys = parseSecretKeys(`new:${Buffer.alloc(32, 2).toString("base64")}`);
const bothKeys = parseSecretKeys(`new:${Buffer.alloc(32, 2).toString("base64")},old:${Buffer.alloc(32, 1).toString("base64")}`);

describe("webhook credentials per (workspace, provider)", () => {
  let mongo: MongoHandles;
  let repository: WorkspaceRepository;
  const audits: AuditRecord[] = [];
  const deps = (): SecretDeps => ({
    repository,
    audits: { record: async (entry) => void audits.push(entry) },
    announce: async () => {},
    log: createLogger({}, "error"),
    seal: (workspaceId, secret) => sealSecret(oldKeys, workspaceId, secret),
    now: () => new Date(),
  });
  const audit = { caller: "test", actor: "ann", note: "" };
  const byProvider = async (workspaceId: string) => {
    const secrets = (await repository.find(workspaceId))!.secrets;
    const grouped: Partial<Record<string, { role: string; plain: string }[]>> = {};
    for (const secret of secrets) {
      (grouped[secret.provider ?? "legacy"] ??= []).push({ role: secret.role, plain: openSecret(oldKeys, workspaceId, secret.sealed) });
    }
    return grouped;
  };

  beforeAll(async () => {
    mongo = await connectMongo(shared.mongoUri, uniqueName("test"), "provider-secrets-test");
    repository = new WorkspaceRepository(mongo.db);
  });
  afterAll(async () => mongo?.close());

  it("sets, rotates and removes one provider's secrets and leaves every other provider's as they were", async () => {
    const ws = uniqueName("ws");
    const [resend, postmark1, postmark2, mailgun] = [credentialOf.resend(), credentialOf.postmark(), credentialOf.postmark(), credentialOf.mailgun()];
    await setWebhookSecret(deps(), ws, resend, audit);
    const set = await setWebhookSecret(deps(), ws, postmark1, audit, "postmark");
    expect(set).toMatchObject([{ provider: "postmark", role: "current" }]); // only the provider's own secrets come back
    await setWebhookSecret(deps(), ws, mailgun, audit, "mailgun");
    const rotated = await rotateWebhookSecret(deps(), ws, postmark2, undefined, audit, "postmark");
    expect(rotated.map((secret) => [secret.provider, secret.role])).toEqual([["postmark", "current"], ["postmark", "previous"]]);
    expect(await byProvider(ws)).toEqual({
      resend: [{ role: "current", plain: resend }],
      mailgun: [{ role: "current", plain: mailgun }],
      postmark: [{ role: "current", plain: postmark2 }, { role: "previous", plain: postmark1 }],
    });

    // A Resend rotation keeps the previous Resend secret only, not the previous Postmark one.
    const resend2 = credentialOf.resend();
    await rotateWebhookSecret(deps(), ws, resend2, 0, audit);
    expect((await byProvider(ws)).resend).toEqual([{ role: "current", plain: resend2 }]);
    expect((await byProvider(ws)).postmark).toHaveLength(2);

    const removed = await removeWebhookSecret(deps(), ws, "previous", audit, "postmark");
    expect(removed).toMatchObject({ removed: 1, secrets: [{ provider: "postmark", role: "current" }] });
    const all = await removeWebhookSecret(deps(), ws, "all", audit, "mailgun");
    expect(all).toEqual({ removed: 1, secrets: [] });
    expect(await byProvider(ws)).toEqual({ resend: [{ role: "current", plain: resend2 }], postmark: [{ role: "current", plain: postmark2 }] });
    await expect(rotateWebhookSecret(deps(), ws, credentialOf.ses(), undefined, audit, "ses")).rejects.toThrow(/^ses webhook secret .* not found$/);
  });

  it("names the provider in the audit entry of a change, and keeps Resend's entries as they were", async () => {
    const ws = uniqueName("ws");
    const [resend, ses] = [credentialOf.resend(), credentialOf.ses()];
    await setWebhookSecret(deps(), ws, resend, audit);
    await setWebhookSecret(deps(), ws, ses, audit, "ses");
    const targets = audits.filter((entry) => entry.workspaceId === ws).map((entry) => entry.target);
    const sesFingerprint = (await repository.find(ws))!.secrets.find((secret) => secret.provider === "ses")!.fingerprint;
    expect(targets).toEqual([secretFingerprint(resend), `ses:${sesFingerprint}`]);
    expect(JSON.stringify(audits)).not.toContain(ses);
  });

  it("treats setting the only active secret again as a no-op: no write, no audit entry", async () => {
    const ws = uniqueName("ws");
    const secret = credentialOf.resend();
    await setWebhookSecret(deps(), ws, secret, audit);
    const before = await repository.find(ws);
    const again = await setWebhookSecret(deps(), ws, secret, audit);
    expect(again).toMatchObject([{ provider: "resend", role: "current", fingerprint: secretFingerprint(secret) }]);
    expect((await repository.find(ws))!.version).toBe(before!.version);
    expect(audits.filter((entry) => entry.workspaceId === ws)).toHaveLength(1);
    // With a previous secret still active it is a change: the previous one goes.
    await rotateWebhookSecret(deps(), ws, credentialOf.resend(), undefined, audit);
    await setWebhookSecret(deps(), ws, secret, audit);
    expect((await byProvider(ws)).resend).toEqual([{ role: "current", plain: secret }]);
  });

  it("refuses a malformed credential of each provider with InvalidArgument naming the field, without echoing it", async () => {
    const ws = uniqueName("ws");
    const marker = "Zq7Xk2Lm9Pw4Rt6Y";
    const bad: Record<Provider, [string, RegExp]> = {
      resend: [`whsec_${marker}!`, /whsec_/],
      ses: [`arn:aws:sns:nowhere:${marker}`, /topic ARN/],
      sendgrid: [`${marker}${marker}`, /public key|base64/],
      postmark: [`${marker}:short`, /password/],
      mailgun: [`${marker} ${marker}`, /printable ASCII/],
    };
    for (const [provider, [credential, problem]] of Object.entries(bad) as [Provider, [string, RegExp]][]) {
      for (const [field, attempt] of [
        ["secret", () => setWebhookSecret(deps(), ws, credential, audit, provider)],
        ["new_secret", () => rotateWebhookSecret(deps(), ws, credential, undefined, audit, provider)],
      ] as const) {
        const error = await attempt().catch((caught: unknown) => caught);
        expect(error, `${provider} ${field}`).toBeInstanceOf(InvalidArgumentError);
        expect((error as Error).message, provider).toMatch(new RegExp(`^${field}: `));
        expect((error as Error).message, provider).toMatch(problem);
        expect((error as Error).message, provider).not.toContain(marker);
      }
    }
    // One provider's credential is no credential of another.
    await expect(setWebhookSecret(deps(), ws, credentialOf.resend(), audit, "postmark")).rejects.toThrow(/^secret: must be username:password/);
    await expect(setWebhookSecret(deps(), ws, credentialOf.postmark(), audit, "resend")).rejects.toThrow(/^secret: must start with whsec_/);
    expect(await repository.find(ws)).toBeUndefined();
  });

  it("manages secrets stored before providers existed as Resend's, without rewriting them needlessly", async () => {
    const ws = uniqueName("ws");
    const legacy = credentialOf.resend();
    const stored: StoredSecret = { sealed: sealSecret(oldKeys, ws, legacy), fingerprint: secretFingerprint(legacy), role: "current", createdAt: new Date(0) };
    await repository.save(ws, [stored], 0, new Date());

    await setWebhookSecret(deps(), ws, credentialOf.sendgrid(), audit, "sendgrid");
    expect((await repository.find(ws))!.secrets).toContainEqual(stored); // byte for byte, no provider added
    await expect(rotateWebhookSecret(deps(), ws, legacy, undefined, audit)).rejects.toThrow(/already in use/);

    const next = credentialOf.resend();
    await rotateWebhookSecret(deps(), ws, next, undefined, audit);
    expect(await byProvider(ws)).toMatchObject({ resend: [{ role: "current", plain: next }], legacy: [{ role: "previous", plain: legacy }] });
    expect((await removeWebhookSecret(deps(), ws, "previous", audit)).removed).toBe(1);
    expect(Object.keys(await byProvider(ws)).sort()).toEqual(["resend", "sendgrid"]);
  });

  it("re-seals every provider's secrets under the first key, keeping whose they are", async () => {
    const ws = uniqueName("ws");
    const credentials = { resend: credentialOf.resend(), postmark: credentialOf.postmark(), ses: credentialOf.ses() };
    for (const [provider, credential] of Object.entries(credentials)) await setWebhookSecret(deps(), ws, credential, audit, provider as Provider);
    const reencrypt = {
      ...deps(),
      activeKeyId: bothKeys.activeId,
      reseal: (workspaceId: string, sealed: string) => resealSecret(bothKeys, workspaceId, sealed),
      resealApiKey: (workspaceId: string, sealed: string) => resealSecret(bothKeys, workspaceId, sealed, "provider-api-key"),
    };
    // Pages until this workspace has been looked at (the collection is this test's own).
    let token = "";
    do token = (await reencryptSecrets(reencrypt, { pageSize: 100, pageToken: token }, audit)).nextPageToken;
    while (token);
    const secrets = (await repository.find(ws))!.secrets;
    expect(secrets).toHaveLength(3);
    for (const secret of secrets) {
      expect(secret.sealed).toMatch(/^v1\.new\./);
      expect(openSecret(newKeys, ws, secret.sealed)).toBe(credentials[secret.provider as keyof typeof credentials]);
    }
  });
});
