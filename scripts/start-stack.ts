/**
 * `npm start`: the whole stack in the foreground, without Docker.
 *
 * Starts a local nats-server (JetStream) and a local FerretDB (SQLite) with
 * their data under DATA_DIR — unless NATS_URL / MONGODB_URI point at existing
 * servers — then the gateway and the three services, waits until each answers
 * /healthz, prints every endpoint, and on Ctrl-C stops everything cleanly.
 * NGSREACH_RUNTIME=deno runs the services on Deno instead of Node.
 *
 * Scale-out on one machine: LOCAL_NATS_CLUSTER=3 runs a three-node JetStream
 * cluster instead of one server (node i, from 0, on LOCAL_NATS_PORT + i, routes
 * on LOCAL_NATS_CLUSTER_PORT + i, monitoring on LOCAL_NATS_MONITOR_PORT + i, data
 * in DATA_DIR/nats-<i+1>) and gives the services EVENTS_REPLICAS=3 unless set;
 * SERVICE_INSTANCES=2 runs that many instances of each service, instance k (from
 * 0) on the service's port + 100·k.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultPorts, envReader } from "../services/shared/config.ts";
import { assertPortFree, repoRoot, startFerretDb, startNatsCluster, startNatsServer, type LocalServer } from "../tools/local-servers.ts";
import { ensureLocalServers } from "./build-tools.ts";
import { localSnsCertificatePrefix } from "../cli/local-sns.ts";

const services = [
  { name: "webhook-gateway", portVariable: "GATEWAY_PORT", port: defaultPorts.gateway },
  { name: "delivery-status", portVariable: "DELIVERY_STATUS_PORT", port: defaultPorts.deliveryStatus },
  { name: "campaign-stats", portVariable: "CAMPAIGN_STATS_PORT", port: defaultPorts.campaignStats },
  { name: "suppression", portVariable: "SUPPRESSION_PORT", port: defaultPorts.suppression },
] as const;

const read = envReader();
const dataDir = read.string("DATA_DIR", join(repoRoot, ".cache", "data"));
const runtime = read.oneOf("NGSREACH_RUNTIME", "node", ["node", "deno"] as const);
const natsNodes = read.integer("LOCAL_NATS_CLUSTER", 1, 1, 5);
const instances = read.integer("SERVICE_INSTANCES", 1, 1, 10);
/** Instance k of a service listens on its port + 100·k. */
const instancePortStep = 100;
const servers: LocalServer[] = [];
const children: ChildProcess[] = [];
let stopping = false;

async function main(): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  const ports = services.map((service) => ({ ...service, port: read.port(service.portVariable, service.port) }));
  const processes = ports.flatMap((service) =>
    Array.from({ length: instances }, (_, k) => ({ ...service, instance: k, port: service.port + instancePortStep * k })),
  );
  for (const { port, portVariable } of processes) {
    if (port > 65535) {
      throw new Error(`port ${port} (${portVariable} + ${instancePortStep}·instance) is above 65535; lower ${portVariable} or SERVICE_INSTANCES`);
    }
    await assertPortFree(port, portVariable);
  }

  if (!env.NATS_URL || !env.MONGODB_URI) ensureLocalServers();
  const monitorPort = read.port("LOCAL_NATS_MONITOR_PORT", defaultPorts.localNatsMonitor);
  let monitorPorts: number[] = [];
  if (!env.NATS_URL && natsNodes === 1) {
    await assertPortFree(monitorPort, "LOCAL_NATS_MONITOR_PORT");
    const nats = await startNatsServer({
      port: read.port("LOCAL_NATS_PORT", defaultPorts.localNats),
      monitorPort,
      dataDir: join(dataDir, "nats"),
      detached: true,
    });
    servers.push(nats);
    env.NATS_URL = nats.url;
    monitorPorts = [monitorPort];
  } else if (!env.NATS_URL) {
    const clientPort = read.port("LOCAL_NATS_PORT", defaultPorts.localNats);
    const clusterPort = read.port("LOCAL_NATS_CLUSTER_PORT", defaultPorts.localNatsCluster);
    const cluster = await startNatsCluster({
      nodes: natsNodes,
      dataDir,
      ports: Array.from({ length: natsNodes }, (_, i) => ({ client: clientPort + i, cluster: clusterPort + i, monitor: monitorPort + i })),
      detached: true,
    });
    servers.push(...cluster.nodes);
    env.NATS_URL = cluster.url;
    env.EVENTS_REPLICAS ||= String(Math.min(3, natsNodes));
    monitorPorts = cluster.nodes.map((node) => node.monitorPort);
  }
  if (!env.MONGODB_URI) {
    const ferret = await startFerretDb({ port: read.port("LOCAL_MONGO_PORT", defaultPorts.localMongo), dataDir: join(dataDir, "ferretdb"), detached: true });
    servers.push(ferret);
    env.MONGODB_URI = ferret.url;
  }
  env.SECRETS_KEY ||= localSecretsKey();
  env.PAGE_TOKEN_KEY ||= randomBytes(32).toString("base64url"); // shared by this stack's instances; tokens are short-lived
  // Local stack only (never the compose file): lets `ngsreach simulate --provider ses` sign with a certificate
  // it serves itself on loopback, as real SNS certificates are accepted only from AWS's hosts.
  env.SNS_EXTRA_CERT_URL_PREFIX ||= localSnsCertificatePrefix;

  for (const service of processes) {
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
        const which = instances > 1 ? ` instance ${service.instance} (port ${service.port})` : "";
        console.error(`${service.name}${which} exited unexpectedly (${signal ?? `code ${code}`}); stopping the stack`);
        void shutdown(1);
      }
    });
    children.push(child);
  }
  await Promise.all(processes.map((service) => waitHealthy(service.name, service.port)));

  const urls = (index: number, path = "") =>
    processes.filter((service) => service.name === ports[index]!.name).map((service) => `http://127.0.0.1:${service.port}${path}`).join(", ");
  const monitoring = monitorPorts.map((port) => `http://127.0.0.1:${port}`).join(", ");
  const replicas = monitorPorts.length > 1 ? `; streams with EVENTS_REPLICAS=${env.EVENTS_REPLICAS}` : "";
  console.log(
    [
      "",
      `NgsReach delivery events is running (${runtime}${instances > 1 ? `, ${instances} instances of each service` : ""}). Endpoints:`,
      `  webhook (Resend)     POST ${urls(0, "/webhooks/resend?workspaceId=<id>")}`,
      `  other providers      POST ${urls(0, "/webhooks/{ses|sendgrid|postmark|mailgun}?workspaceId=<id>")}  (SES test certificates from ${env.SNS_EXTRA_CERT_URL_PREFIX})`,
      `  workspace settings   ${urls(0)}  (ngsreach.workspace.v1.WorkspaceSettingsService)`,
      `  delivery status      ${urls(1)}  (ngsreach.delivery.v1.DeliveryStatusService)`,
      `  campaign stats       ${urls(2)}  (ngsreach.stats.v1.CampaignStatsService)`,
      `  suppression          ${urls(3)}  (ngsreach.suppression.v1.SuppressionService)`,
      `  metrics              http://127.0.0.1:<port>/metrics, health: /healthz and grpc.health.v1.Health on each port`,
      `  NATS                 ${env.NATS_URL}${monitoring ? `  (monitoring ${monitoring}${replicas})` : ""}`,
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
