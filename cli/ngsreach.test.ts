import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newWebhookSecret } from "./sign.ts";
import { emailEventTypes } from "./resend-samples.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../test/harness.ts";
import { repoRoot } from "../tools/local-servers.ts";
import { startGateway, type TestGateway } from "../test/support/gateway-test-kit.ts";
import { parseSecretKeys, sealSecret } from "../services/webhook-gateway/workspace/secret-box.ts";

const run = promisify(execFile);

describe("the ngsreach command", () => {
  let gateway: TestGateway;
  const workspace = uniqueName("ws");
  const secret = newWebhookSecret();
  const cli = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [join(repoRoot, "cli", "ngsreach.ts"), ...args], {
        env: { ...process.env, GATEWAY_URL: gateway.url, INTERNAL_TOKEN: "" },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  beforeAll(async () => {
    gateway = await startGateway(testBaseConfig({ natsUrl: (await privateNats()).url }));
  });
  afterAll(async () => gateway?.service.stop());

  it("sets a secret, then simulate sends every Resend email type and each is accepted", async () => {
    const set = await cli("secret", "set", "--workspace", workspace, "--secret", secret, "--note", "test");
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/current\s+fingerprint [0-9a-f]{8}/);
    expect(set.stdout).not.toContain(secret.slice(6));

    const simulated = await cli("simulate", "--workspace", workspace, "--secret", secret);
    expect(simulated.code).toBe(0);
    for (const type of emailEventTypes) expect(simulated.stdout).toMatch(new RegExp(`${type.replace(".", "\\.")}\\s+200 `));
  });

  it("prints webhook health with the accepted count", async () => {
    const health = await waitFor(async () => {
      const result = await cli("health", "--workspace", workspace);
      return /accepted\s+9\b/.test(result.stdout) ? result : undefined;
    });
    expect(health.stdout).toMatch(/rejected: signature\s+0/);
  });

  it("rotates and removes secrets, and simulate with the wrong secret reports 401s and exits 1", async () => {
    const next = newWebhookSecret();
    const rotated = await cli("secret", "rotate", "--workspace", workspace, "--secret", next, "--ttl", "60");
    expect(rotated.stdout).toMatch(/previous\s+fingerprint [0-9a-f]{8}\s+expires/);
    const removed = await cli("secret", "remove", "--workspace", workspace);
    expect(removed.stdout).toContain("removed 1 webhook secret(s)");
    const wrong = await cli("simulate", "--workspace", workspace, "--secret", secret);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain("401");
    expect(wrong.stderr).toContain("401 = secret mismatch");
  });

  it("lists the workspace's audit entries newest first, naming the caller (local: no token is set)", async () => {
    const audit = await cli("audit", "--workspace", workspace, "--limit", "2");
    expect(audit.code).toBe(0);
    const lines = audit.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\S+Z {2}webhook-gateway {2}remove_webhook_secret {2}caller=local {2}actor=\S+ {2}target=[0-9a-f]{8}$/);
    expect(lines[1]).toMatch(/ rotate_webhook_secret {2}caller=local .* target=[0-9a-f]{8},[0-9a-f]{8}$/);
    const all = await cli("audit", "--workspace", workspace);
    expect(all.stdout).toMatch(/set_webhook_secret .* note="test"\n$/);
    expect((await cli("audit", "--workspace", uniqueName("nobody"))).stdout).toContain("no audit entries");
    const bad = await cli("audit", "--workspace", workspace, "--limit", "0");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--limit must be a whole number from 1 to 10000");
  });

  it("refuses to guess which of several named tokens to send when none is named cli", async () => {
    const script = join(repoRoot, "cli", "ngsreach.ts");
    const env = { ...process.env, GATEWAY_URL: gateway.url, INTERNAL_TOKEN: "billing:billing-token-0123456789,crm:crm-token-0123456789abc" };
    const failed = await run(process.execPath, [script, "audit", "--workspace", workspace], { env }).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 2, stderr: expect.stringContaining('INTERNAL_TOKEN names several tokens but none "cli"') });
  });

  it("says what to do about a secret the gateway cannot decrypt, and re-encrypts every other one under the first key", async () => {
    const orphan = uniqueName("ws");
    const sealed = sealSecret(parseSecretKeys(`gone:${Buffer.alloc(32, 3).toString("base64")}`), orphan, newWebhookSecret());
    await gateway.service.context.mongo.db
      .collection("gateway_workspaces")
      .insertOne({ _id: orphan, secrets: [{ sealed, fingerprint: "0badc0de", role: "current", createdAt: new Date() }], version: 1, updatedAt: new Date() } as never);
    const health = await cli("health", "--workspace", orphan);
    expect(health.code).toBe(0);
    expect(health.stdout).toMatch(/state\s+secret_undecryptable/);
    expect(health.stdout).toMatch(/key of 0badc0de\s+gone\s+CANNOT BE DECRYPTED/);
    expect(health.stdout).toContain('sealed with SECRETS_KEY key id "gone"');
    expect(health.stdout).toContain("ngsreach secrets reencrypt");
    expect((await cli("health", "--workspace", workspace)).stdout).toMatch(/state\s+(ok|no_secret)/);

    const reencrypt = await cli("secrets", "reencrypt", "--note", "rotate SECRETS_KEY");
    expect(reencrypt.code).toBe(1); // one secret could not be re-sealed
    expect(reencrypt.stdout).toContain('re-encrypted webhook secrets under key id "test"');
    expect(reencrypt.stdout).toMatch(new RegExp(`cannot be decrypted\\s+1\\s+\\(workspaces: ${orphan}\\)`));
    await gateway.service.context.mongo.db.collection("gateway_workspaces").deleteOne({ _id: orphan as never });
    const done = await cli("secrets", "reencrypt");
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/secrets re-sealed\s+0\n/); // everything was already under "test"
  });

  it("explains usage mistakes and server-side validation errors", async () => {
    const missing = await cli("secret", "set", "--secret", secret);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--workspace is required");
    const invalid = await cli("secret", "set", "--workspace", workspace, "--secret", "not-a-secret");
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("secret: must start with whsec_ [InvalidArgument]");
  });

  it("manages another provider's credential with --provider, leaving the Resend secret as it was", async () => {
    const ws = uniqueName("ws");
    const resend = newWebhookSecret();
    await cli("secret", "set", "--workspace", ws, "--secret", resend);
    const [first, second] = [`hooks:${"a".repeat(20)}`, `hooks:${"b".repeat(20)}`];
    const set = await cli("secret", "set", "--workspace", ws, "--provider", "postmark", "--secret", first);
    expect(set).toMatchObject({ code: 0, stdout: expect.stringMatching(/\(postmark\)\n\s+current\s+fingerprint [0-9a-f]{8}\s+postmark\n$/) });
    expect(set.stdout).not.toContain("a".repeat(20));
    const rotated = await cli("secret", "rotate", "--workspace", ws, "--provider", "postmark", "--secret", second);
    expect(rotated.stdout).toMatch(/previous\s+fingerprint [0-9a-f]{8}\s+expires \S+\s+postmark\n/);
    const removed = await cli("secret", "remove", "--workspace", ws, "--provider", "postmark", "--all");
    expect(removed.stdout).toContain("removed 2 webhook secret(s)");
    const health = await cli("health", "--workspace", ws);
    expect(health.stdout).toMatch(/current\s+fingerprint [0-9a-f]{8}\s+resend/);
    expect(health.stdout).not.toContain("postmark");

    const wrongKind = await cli("secret", "set", "--workspace", ws, "--provider", "postmark", "--secret", resend);
    expect(wrongKind).toMatchObject({ code: 1, stderr: expect.stringContaining("secret: must be username:password") });
    const unknown = await cli("secret", "set", "--workspace", ws, "--provider", "sparkpost", "--secret", first);
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringContaining("--provider must be one of resend, ses, sendgrid, postmark, mailgun") });
  });
});
