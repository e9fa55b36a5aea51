import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { waitFor } from "../test/harness.ts";
import { freePort, repoRoot } from "../tools/local-servers.ts";

async function ports(names: string[]): Promise<Record<string, string>> {
  const entries = await Promise.all(names.map(async (name) => [name, String(await freePort())] as const));
  return Object.fromEntries(entries);
}

describe("npm start (scripts/start-stack.ts)", () => {
  it("brings up NATS, FerretDB and all four services, prints the endpoints, and stops everything on Ctrl-C", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "ngsreach-stack-"));
    const env = await ports([
      "GATEWAY_PORT",
      "DELIVERY_STATUS_PORT",
      "CAMPAIGN_STATS_PORT",
      "SUPPRESSION_PORT",
      "LOCAL_NATS_PORT",
      "LOCAL_NATS_MONITOR_PORT",
      "LOCAL_MONGO_PORT",
    ]);
    const { NATS_URL: _n, MONGODB_URI: _m, INTERNAL_TOKEN: _t, SECRETS_KEY: _s, ...inherited } = process.env;
    const stack = spawn(process.execPath, [join(repoRoot, "scripts", "start-stack.ts")], {
      env: { ...inherited, ...env, DATA_DIR: dataDir, LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    stack.stdout!.on("data", (chunk) => (output += chunk));
    stack.stderr!.on("data", (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => stack.once("exit", (code) => resolve(code)));
    try {
      await waitFor(() => output.includes("Press Ctrl-C to stop."), { timeoutMs: 45_000, what: "the endpoint list" });
      expect(output).toContain(`POST http://127.0.0.1:${env.GATEWAY_PORT}/webhooks/resend?workspaceId=<id>`);
      for (const name of ["GATEWAY_PORT", "DELIVERY_STATUS_PORT", "CAMPAIGN_STATS_PORT", "SUPPRESSION_PORT"]) {
        const health = await fetch(`http://127.0.0.1:${env[name]}/grpc.health.v1.Health/Check`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        });
        expect(await health.json()).toEqual({ status: "SERVING" });
      }
      const monitor = await fetch(`http://127.0.0.1:${env.LOCAL_NATS_MONITOR_PORT}/jsz`);
      expect(monitor.ok).toBe(true);
      expect(existsSync(join(dataDir, "secrets.key"))).toBe(true);
      expect(output).not.toContain(readFileSync(join(dataDir, "secrets.key"), "utf8").trim().split(":")[1]!);
    } finally {
      stack.kill("SIGINT");
    }
    expect(await exited).toBe(0);
    const free = await fetch(`http://127.0.0.1:${env.GATEWAY_PORT}/healthz`).then(
      () => false,
      () => true,
    );
    expect(free).toBe(true);
  });
});
