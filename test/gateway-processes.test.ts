/**
 * GATEWAY_PROCESSES: the gateway as a primary and worker processes sharing one port (node:cluster), run as
 * `npm start` runs it. Each request here comes on a connection of its own, so the primary spreads them over the
 * workers and a scrape that saw one worker's counters would count about half.
 */
import { spawn } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkspaceSettingsService } from "../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { newWebhookSecret, signedHeaders } from "../cli/sign.ts";
import { sampleEmailEvent } from "../cli/resend-samples.ts";
import { freePort, repoRoot } from "../tools/local-servers.ts";
import type { LocalServer } from "../tools/local-servers.ts";
import { privateNats, shared, testSecretsKey, uniqueName, waitFor } from "./harness.ts";
import { spawnService, type ServiceProcess } from "./processes.ts";
import { natsReader, storedEvents } from "./support/gateway-test-kit.ts";
import { isAlive } from "./support/process-tree.ts";

/** POSTs on a connection of its own (no keep-alive), so each request is a new accept for the primary to hand out. */
function postOnNewConnection(baseUrl: string, path: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, { method: "POST", agent: false, headers: { ...headers, "content-type": "application/json", connection: "close" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The sum of a metric's series in a scrape that carry every one of `labels` (in any order). */
const seriesValue = (text: string, name: string, labels: Record<string, string> = {}) =>
  text
    .split("\n")
    .filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);

/** The pids of the workers that said they are ready, in the order they did. */
const readyWorkers = (output: string) =>
  output
    .split("\n")
    .filter((line) => line.includes('"msg":"worker process ready"'))
    .map((line) => (JSON.parse(line) as { pid: number }).pid);

describe("the gateway with GATEWAY_PROCESSES=2", () => {
  let nats: LocalServer;
  let natsUrl: string;
  let gateway: ServiceProcess;
  const env = () => ({ NATS_URL: natsUrl, MONGODB_URI: shared.mongoUri, MONGODB_DATABASE: uniqueName("workers"), SECRETS_KEY: testSecretsKey });

  beforeAll(async () => {
    nats = await privateNats();
    natsUrl = nats.url;
    gateway = await spawnService("node", "webhook-gateway", { ...env(), GATEWAY_PROCESSES: "2", LOG_LEVEL: "info" });
    await waitFor(() => readyWorkers(gateway.output()).length === 2, { what: "both worker processes ready" });
  });
  afterAll(async () => {
    if (gateway?.child.exitCode === null) await gateway.kill();
  });

  it("serves one port from two workers, stores every webhook once, and scrapes the counters of both", async () => {
    const workspace = uniqueName("ws");
    const secret = newWebhookSecret();
    await createClient(WorkspaceSettingsService, createGrpcTransport({ baseUrl: gateway.baseUrl })).setWebhookSecret({ workspaceId: workspace, secret, actor: "test", note: "" });
    const body = JSON.stringify(sampleEmailEvent("email.delivered", { emailId: "e-workers" }));
    const ids = Array.from({ length: 60 }, (_, i) => `msg_workers_${i}`);
    const statuses = [];
    // Two at a time, each twice (the second answer is the duplicate's): 120 requests, 60 events.
    for (let i = 0; i < ids.length; i += 2) {
      const pair = ids.slice(i, i + 2).flatMap((id) => [id, id]);
      statuses.push(...(await Promise.all(pair.map((id) => postOnNewConnection(gateway.baseUrl, `/webhooks/resend?workspaceId=${workspace}`, body, signedHeaders(secret, body, { id }))))));
    }
    expect(new Set(statuses)).toEqual(new Set([200]));

    const reader = await natsReader(natsUrl);
    try {
      expect((await storedEvents(reader, workspace)).map((event) => event.svixId).sort()).toEqual([...ids].sort());
    } finally {
      await reader.nc.close();
    }
    const scrape = await (await fetch(`${gateway.baseUrl}/metrics`)).text();
    expect(seriesValue(scrape, "ngsreach_webhook_requests_total", { provider: "resend", status: "200" })).toBe(120);
    expect(seriesValue(scrape, "ngsreach_nats_up")).toBe(1); // 1 when every worker is connected, not the sum
  });

  it("starts another worker for one that died and keeps answering", async () => {
    const [first] = readyWorkers(gateway.output());
    process.kill(first!, "SIGKILL");
    await waitFor(() => readyWorkers(gateway.output()).length === 3, { what: "a new worker process ready" });
    expect(gateway.output()).toContain('"msg":"worker process died; starting another"');
    for (let i = 0; i < 6; i++) expect((await fetch(`${gateway.baseUrl}/healthz`, { headers: { connection: "close" } })).status).toBe(200);
  });

  it("tries a replacement that cannot start again later, while the other worker stays up", async () => {
    const [kept, killed] = readyWorkers(gateway.output()).filter(isAlive);
    await nats.stop(); // a new worker cannot start without NATS; the running ones wait for it to come back
    process.kill(killed!, "SIGKILL");
    await waitFor(() => gateway.output().includes('"msg":"worker process exited before it was ready; trying again"'), { what: "a replacement that failed its start-up" });
    expect(isAlive(kept!)).toBe(true);
    expect(gateway.child.exitCode).toBeNull();
    await nats.restart();
    await waitFor(() => readyWorkers(gateway.output()).length === 4, { what: "the replacement ready once NATS is back" });
    expect(isAlive(kept!)).toBe(true);
    expect((await fetch(`${gateway.baseUrl}/healthz`, { headers: { connection: "close" } })).status).toBe(200);
  });

  it("drains every worker on SIGTERM and exits 0", async () => {
    expect(await gateway.stop()).toBe(0);
    const stopped = gateway.output().split("\n").filter((line) => line.includes('"msg":"service stopped"'));
    expect(stopped).toHaveLength(2);
  });
});

describe("the gateway's worker processes at start-up", () => {
  it("exits non-zero, with the reason, when its workers cannot start", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [join(repoRoot, "services", "webhook-gateway", "main.ts")], {
      cwd: repoRoot,
      // Nothing listens on a fresh free port: connecting to NATS fails until the start-up deadline.
      env: { ...process.env, GATEWAY_PROCESSES: "2", GATEWAY_PORT: String(await freePort()), NATS_URL: `nats://127.0.0.1:${port}`, MONGODB_URI: shared.mongoUri, SECRETS_KEY: testSecretsKey, STARTUP_TIMEOUT_SECONDS: "5", LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (chunk) => (output += chunk));
    child.stderr!.on("data", (chunk) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(1);
    expect(output).toContain("start-up failed");
    expect(output).toContain('"msg":"worker process exited during start-up; stopping the others"');
  });
});
