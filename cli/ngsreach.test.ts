import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newWebhookSecret } from "./sign.ts";
import { emailEventTypes } from "./resend-samples.ts";
import { privateNats, testBaseConfig, uniqueName, waitFor } from "../test/harness.ts";
import { repoRoot } from "../tools/local-servers.ts";
import { startGateway, type TestGateway } from "../services/webhook-gateway/gateway-test-kit.ts";

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

  it("explains usage mistakes and server-side validation errors", async () => {
    const missing = await cli("secret", "set", "--secret", secret);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--workspace is required");
    const invalid = await cli("secret", "set", "--workspace", workspace, "--secret", "not-a-secret");
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("secret: must start with whsec_ [InvalidArgument]");
  });
});
