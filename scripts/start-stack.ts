/**
 * `npm start`: the whole stack in the foreground, without Docker.
 *
 * Starts a local nats-server (JetStream) and a local FerretDB (SQLite) with
 * their data under DATA_DIR — unless NATS_URL / MONGODB_URI point at existing
 * servers — then the gateway and the three services, waits until each answers
 * /healthz, prints every endpoint, and on Ctrl-C stops everything cleanly.
 * NGSREACH_RUNTIME=deno runs the services on Deno instead of Node.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultPorts, envReader } from "../services/shared/config.ts";
import { assertPortFree, repoRoot, startFerretDb, startNatsServer, type LocalServer } from "../tools/local-servers.ts";
import { ensureLocalServers } from "./build-tools.ts";

const services = [
  { name: "webhook-gateway", portVariable: "GATEWAY_PORT", port: defaultPorts.gateway },
  { name: "delivery-status", portVariable: "DELIVERY_STATUS_PORT", port: defaultPorts.deliveryStatus },
  { name: "campaign-stats", portVariable: "CAMPAIGN_STATS_PORT", port: defaultPorts.campaignStats },
  { name: "suppression", portVariable: "SUPPRESSION_PORT", port: defaultPorts.suppression },
] as const;

const read = envReader();
const dataDir = read.string("DATA_DIR", join(repoRoot, ".cache", "data"));
const runtime = read.oneOf("NGSREACH_RUNTIME", "node", ["node", "deno"] as const);
const servers: LocalServer[] = [];
const children: ChildProcess[] = [];
let stopping = false;

async function main(): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  const ports = services.map((service) => ({ ...service, port: read.port(service.portVariable, service.port) }));
  for (const service of ports) await assertPortFree(service.port, service.portVariable);

  if (!env.NATS_URL || !env.MONGODB_URI) ensureLocalServers();
  if (!env.NATS_URL) {
    const monitorPort = read.port("LOCAL_NATS_MONITOR_PORT", defaultPorts.localNatsMonitor);
    await assertPortFree(monitorPort, "LOCAL_NATS_MONITOR_PORT");
    const nats = await startNatsServer({
      port: read.port("LOCAL_NATS_PORT", defaultPorts.localNats),
      monitorPort,
      dataDir: join(dataDir, "nats"),
      detached: true,
    });
    servers.push(nats);
    env.NATS_URL = nats.url;
  }
  if (!env.MONGODB_URI) {
    const ferret = await startFerretDb({ port: read.port("LOCAL_MONGO_PORT", defaultPorts.localMongo), dataDir: join(dataDir, "ferretdb"), detached: true });
    servers.push(ferret);
    env.MONGODB_URI = ferret.url;
  }
  env.SECRETS_KEY ||= localSecretsKey();

  for (const service of ports) {
    const entry = join(repoRoot, "services", service.name, "main.ts");
    const command = runtime === "deno" ? [join(repoRoot, "node_modules", ".bin", "deno"), "run", "-A", entry] : [process.execPath, entry];
    const child = spawn(command[0]!, command.slice(1), {
      env: { ...env, [service.portVariable]: String(service.port) },
      stdio: ["ignore", "inherit", "inherit"],
      // Own process group: Ctrl-C reaches only this script, which then stops services before servers.
      detached: true,
    });
    child.once("exit", (code, signal) => {
      if (!stopping) {
        console.error(`${service.name} exited unexpectedly (${signal ?? `code ${code}`}); stopping the stack`);
        void shutdown(1);
      }
    });
    children.push(child);
  }
  await Promise.all(ports.map((service) => waitHealthy(service.name, service.port)));

  const monitor = servers.find((server) => server.name === "nats-server");
  console.log(
    [
      "",
      `NgsReach delivery events is running (${runtime}). Endpoints:`,
      `  webhook (Resend)     POST http://127.0.0.1:${ports[0]!.port}/webhooks/resend?workspaceId=<id>`,
      `  workspace settings   http://127.0.0.1:${ports[0]!.port}  (ngsreach.workspace.v1.WorkspaceSettingsService)`,
      `  delivery status      http://127.0.0.1:${ports[1]!.port}  (ngsreach.delivery.v1.DeliveryStatusService)`,
      `  campaign stats       http://127.0.0.1:${ports[2]!.port}  (ngsreach.stats.v1.CampaignStatsService)`,
      `  suppression          http://127.0.0.1:${ports[3]!.port}  (ngsreach.suppression.v1.SuppressionService)`,
      `  metrics              http://127.0.0.1:<port>/metrics, health: /healthz and grpc.health.v1.Health on each port`,
      `  NATS                 ${env.NATS_URL}${monitor ? `  (monitoring http://127.0.0.1:${read.port("LOCAL_NATS_MONITOR_PORT", defaultPorts.localNatsMonitor)})` : ""}`,
      `  MongoDB wire         ${env.MONGODB_URI.replace(/\/\/[^@/]*@/, "//***@")}`,
      `  data                 ${dataDir}`,
      "Press Ctrl-C to stop.",
      "",
    ].join("\n"),
  );
}

/** The local stack's secrets key: generated once, kept in the data dir (never printed). */
function localSecretsKey(): string {
  const file = join(dataDir, "secrets.key");
  if (!existsSync(file)) writeFileSync(file, `local1:${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
  return readFileSync(file, "utf8").trim();
}

async function waitHealthy(name: string, port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !stopping) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!stopping) throw new Error(`${name} did not become healthy on port ${port} within 60 s`);
}

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        }),
    ),
  );
  await Promise.all(servers.map((server) => server.stop()));
  process.exit(code);
}

process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));
main().catch(async (error: Error) => {
  console.error(`npm start: ${error.message}`);
  await shutdown(1);
});
