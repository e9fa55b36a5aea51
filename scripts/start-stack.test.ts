import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { WorkspaceSettingsService } from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { sampleEmailEvent } from "../cli/resend-samples.ts";
import { newWebhookSecret } from "../cli/sign.ts";
import { postSigned } from "../test/support/gateway-test-kit.ts";
import { waitFor } from "../test/harness.ts";
import { connectNats, RESEND_EVENTS_STREAM } from "../services/shared/nats.ts";
import { createLogger } from "../services/shared/log.ts";
import { assertPortFree, freePort, repoRoot } from "../tools/local-servers.ts";

async function ports(names: string[], offsets: number[] = [0]): Promise<Record<string, string>> {
  const entries = [];
  for (const name of names) entries.push([name, String(await freePortWith(offsets))] as const);
  return Object.fromEntries(entries);
}

/** Every port this file handed a stack, derived ones included (freePort knows only the ones it drew). */
const handedToStacks = new Set<number>();

/**
 * A free port p such that p + each offset is free too (the stack derives those from one variable), and none
 * of them another variable's: two variables' derived ports drawn alike made the cluster test fail about
 * one run in twenty (a refused or garbled connection to a port two processes were given).
 */
async function freePortWith(offsets: number[]): Promise<number> {
  for (;;) {
    const port = await freePort();
    const derived = offsets.map((offset) => port + offset);
    if (Math.max(...derived) > 65535 || derived.some((candidate) => handedToStacks.has(candidate))) continue;
    const free = await Promise.all(derived.map((candidate) => assertPortFree(candidate, "test").then(() => true, () => false)));
    if (!free.every(Boolean)) continue;
    for (const candidate of derived) handedToStacks.add(candidate);
    return port;
  }
}

/** A GET whose failure names what it asked and shows the stack's output (a refused port says which process is not there). */
async function get(url: string, what: string, output: () => string): Promise<Response> {
  try {
    return await fetch(url);
  } catch (error) {
    throw new Error(`GET ${url} (${what}) failed: ${(error as Error & { cause?: Error }).cause?.message ?? error}\n--- stack output ---\n${output()}`);
  }
}

function startStack(env: Record<string, string>) {
  const { NATS_URL: _n, MONGODB_URI: _m, INTERNAL_TOKEN: _t, SECRETS_KEY: _s, ...inherited } = process.env;
  const stack = spawn(process.execPath, [join(repoRoot, "scripts", "start-stack.ts")], {
    env: { ...inherited, ...env, LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  stack.stdout!.on("data", (chunk) => (output += chunk));
  stack.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => stack.once("exit", (code) => resolve(code)));
  return { stack, exited, output: () => output };
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
    const { stack, exited, output: read } = startStack({ ...env, DATA_DIR: dataDir });
    let output = "";
    try {
      await waitFor(() => (output = read()).includes("Press Ctrl-C to stop."), { timeoutMs: 45_000, what: "the endpoint list" });
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

  it("keeps its data across restarts: a webhook secret set before a restart still verifies after it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "ngsreach-stack-"));
    const env: Record<string, string> = { ...(await ports(["GATEWAY_PORT", "DELIVERY_STATUS_PORT", "CAMPAIGN_STATS_PORT", "SUPPRESSION_PORT", "LOCAL_NATS_PORT", "LOCAL_NATS_MONITOR_PORT", "LOCAL_MONGO_PORT"])), DATA_DIR: dataDir };
    const secret = newWebhookSecret();
    const gateway = `http://127.0.0.1:${env.GATEWAY_PORT}`;
    for (const round of [1, 2]) {
      const { stack, exited, output } = startStack(env);
      try {
        await waitFor(() => output().includes("Press Ctrl-C to stop."), { timeoutMs: 45_000, what: `start ${round}` });
        if (round === 1) {
          const settings = createClient(WorkspaceSettingsService, createGrpcTransport({ baseUrl: gateway }));
          await settings.setWebhookSecret({ workspaceId: "persisted", secret, actor: "test", note: "" });
        }
        const body = JSON.stringify(sampleEmailEvent("email.sent"));
        expect((await postSigned(gateway, "persisted", secret, body)).status).toBe(200);
      } finally {
        stack.kill("SIGINT");
      }
      expect(await exited).toBe(0);
    }
  });

  it("runs a three-node NATS cluster and two instances of every service with LOCAL_NATS_CLUSTER=3 and SERVICE_INSTANCES=2", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "ngsreach-stack-"));
    const env = {
      ...(await ports(["GATEWAY_PORT", "DELIVERY_STATUS_PORT", "CAMPAIGN_STATS_PORT", "SUPPRESSION_PORT"], [0, 100])),
      ...(await ports(["LOCAL_NATS_PORT", "LOCAL_NATS_CLUSTER_PORT", "LOCAL_NATS_MONITOR_PORT"], [0, 1, 2])),
      ...(await ports(["LOCAL_MONGO_PORT"])),
    };
    const { stack, exited, output: read } = startStack({ ...env, DATA_DIR: dataDir, LOCAL_NATS_CLUSTER: "3", SERVICE_INSTANCES: "2" });
    const port = (name: string, plus = 0) => Number(env[name]) + plus;
    try {
      await waitFor(() => read().includes("Press Ctrl-C to stop."), { timeoutMs: 90_000, what: "the endpoint list" });
      const output = read();
      const webhooks = [0, 100].map((instance) => `http://127.0.0.1:${port("GATEWAY_PORT", instance)}/webhooks/resend?workspaceId=<id>`);
      expect(output).toContain(`POST ${webhooks.join(", ")}`);
      const natsUrl = [0, 1, 2].map((i) => `nats://127.0.0.1:${port("LOCAL_NATS_PORT", i)}`).join(",");
      expect(output).toContain(natsUrl);
      for (const name of ["GATEWAY_PORT", "DELIVERY_STATUS_PORT", "CAMPAIGN_STATS_PORT", "SUPPRESSION_PORT"]) {
        for (const instance of [0, 100]) {
          const health = await get(`http://127.0.0.1:${port(name, instance)}/healthz`, `${name} + ${instance}`, read);
          expect(health.status, `${name} + ${instance}`).toBe(200);
        }
      }
      for (const i of [0, 1, 2]) {
        const jsz = (await (await get(`http://127.0.0.1:${port("LOCAL_NATS_MONITOR_PORT", i)}/jsz`, `NATS monitor ${i}`, read)).json()) as { meta_cluster?: unknown };
        expect(jsz.meta_cluster).toMatchObject({ cluster_size: 3, leader: expect.stringMatching(/^nats-[123]$/) });
        expect(existsSync(join(dataDir, `nats-${i + 1}`, "jetstream"))).toBe(true);
      }
      const nats = await connectNats(natsUrl, "stack-test", createLogger({}, "error"));
      try {
        expect((await nats.jsm.streams.info(RESEND_EVENTS_STREAM)).config.num_replicas).toBe(3);
      } finally {
        await nats.nc.close();
      }
      // A secret set through one gateway instance verifies a webhook the other receives.
      const secret = newWebhookSecret();
      const settings = createClient(WorkspaceSettingsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port("GATEWAY_PORT")}` }));
      await settings.setWebhookSecret({ workspaceId: "scaled", secret, actor: "test", note: "" });
      const body = JSON.stringify(sampleEmailEvent("email.sent"));
      expect((await postSigned(`http://127.0.0.1:${port("GATEWAY_PORT", 100)}`, "scaled", secret, body)).status).toBe(200);
    } finally {
      stack.kill("SIGINT");
    }
    expect(await exited).toBe(0);
  });

  it("refuses to start when a port is taken, naming the variable to change", async () => {
    const blocker = createServer().listen(0, "127.0.0.1");
    await new Promise((resolve) => blocker.once("listening", resolve));
    const taken = String((blocker.address() as { port: number }).port);
    try {
      const env = await ports(["DELIVERY_STATUS_PORT", "CAMPAIGN_STATS_PORT", "SUPPRESSION_PORT", "LOCAL_NATS_PORT", "LOCAL_NATS_MONITOR_PORT", "LOCAL_MONGO_PORT"]);
      const { exited, output } = startStack({ ...env, GATEWAY_PORT: taken, DATA_DIR: mkdtempSync(join(tmpdir(), "ngsreach-stack-")) });
      expect(await exited).toBe(1);
      expect(output()).toContain(`port ${taken} is already in use on 127.0.0.1; set GATEWAY_PORT to a free port`);
    } finally {
      blocker.close();
    }
  });
});
