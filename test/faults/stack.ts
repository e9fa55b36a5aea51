/**
 * The whole pipeline for one fault scenario: a private nats-server and
 * FerretDB (so they can be stopped, killed and paused), the gateway and the
 * three services as their own processes (so they can be SIGKILLed, SIGSTOPped
 * and restarted), one workspace with a webhook secret, and RPC clients that
 * follow a service when a restart moves it to another port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll } from "vitest";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { DeliveryStatusService } from "../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { CampaignStatsService } from "../../gen/ngsreach/stats/v1/campaign_stats_pb.ts";
import { SuppressionService } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { WorkspaceSettingsService } from "../../gen/ngsreach/workspace/v1/workspace_settings_pb.ts";
import { newWebhookSecret } from "../../cli/sign.ts";
import { freePort, freeze, repoRoot, type LocalServer } from "../../tools/local-servers.ts";
import { privateFerretDb, privateNats, testSecretsKey, uniqueName, waitFor } from "../harness.ts";

export type ServiceName = "webhook-gateway" | "delivery-status" | "campaign-stats" | "suppression";
export const consumerServices = ["delivery-status", "campaign-stats", "suppression"] as const;

const portVariables: Record<ServiceName, string> = {
  "webhook-gateway": "GATEWAY_PORT",
  "delivery-status": "DELIVERY_STATUS_PORT",
  "campaign-stats": "CAMPAIGN_STATS_PORT",
  suppression: "SUPPRESSION_PORT",
};

/** A service process; `kill` is SIGKILL (no drain), `stop` is SIGTERM (drain). */
export interface ServiceProc {
  readonly name: ServiceName;
  readonly baseUrl: string;
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
  pause(): Promise<void>;
  resume(): void;
}

/** Starts a service entry point (default `services/<name>/main.ts`) and waits for /healthz. */
export async function spawnEntry(name: ServiceName, env: Record<string, string>, entry?: string): Promise<ServiceProc> {
  const port = await freePort();
  const child = spawn(process.execPath, [entry ?? join(repoRoot, "services", name, "main.ts")], {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: "error", ...env, [portVariables[name]]: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited: ${output}`);
        return (await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.ok;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: `${name} to become healthy` },
    );
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${(error as Error).message}\n${output}`);
  }
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    name,
    baseUrl,
    child,
    output: () => output,
    stop: async () => {
      if (gone()) return;
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      await exited;
    },
    kill: async () => {
      if (gone()) return;
      child.kill("SIGKILL");
      await exited;
    },
    pause: () => freeze(child),
    resume: () => void child.kill("SIGCONT"),
  };
}

export interface StackOptions {
  /** Services to run (default all four). */
  services?: ServiceName[];
  /** Variables for every service process. */
  env?: Record<string, string>;
  /** Variables per service. */
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  /** A different entry point per service (a deliberately broken build). */
  entries?: Partial<Record<ServiceName, string>>;
  /** Extra workspaces with their own secrets (scenario 9's cross-workspace signatures). */
  extraWorkspaces?: number;
}

/** The running pipeline of one scenario. */
export class Stack {
  readonly procs = new Map<ServiceName, ServiceProc>();
  readonly workspaceId = uniqueName("ws");
  readonly secrets = new Map<string, string>();
  private readonly transports = new Map<string, ReturnType<typeof createConnectTransport>>();

  readonly nats: LocalServer;
  readonly ferret: LocalServer;
  readonly database: string;
  private readonly options: StackOptions;

  private constructor(nats: LocalServer, ferret: LocalServer, database: string, options: StackOptions) {
    this.nats = nats;
    this.ferret = ferret;
    this.database = database;
    this.options = options;
  }

  /** Starts servers and services and sets the workspace's secret. */
  static async start(options: StackOptions = {}): Promise<Stack> {
    const started = Date.now();
    const [nats, ferret] = await Promise.all([privateNats(), privateFerretDb()]);
    const stack = new Stack(nats, ferret, uniqueName("faults"), options);
    openStacks.add(stack);
    const names = options.services ?? ["webhook-gateway", ...consumerServices];
    // The first one creates the streams; the others then start together (stream creation is idempotent anyway).
    const [first, ...rest] = names;
    await stack.start(first!);
    await Promise.all(rest.map((name) => stack.start(name)));
    const workspaces = [stack.workspaceId, ...Array.from({ length: options.extraWorkspaces ?? 0 }, () => uniqueName("ws"))];
    for (const workspaceId of workspaces) {
      const secret = newWebhookSecret();
      await stack.settings().setWebhookSecret({ workspaceId, secret, actor: "faults", note: "fault-injection suite" });
      stack.secrets.set(workspaceId, secret);
    }
    console.log(`[faults] stack of ${names.length} services started in ${Date.now() - started} ms`);
    return stack;
  }

  /** Environment of a service process. */
  env(name: ServiceName): Record<string, string> {
    return {
      NATS_URL: this.nats.url,
      MONGODB_URI: this.ferret.url,
      MONGODB_DATABASE: this.database,
      SECRETS_KEY: testSecretsKey,
      WEBHOOK_PUBLISH_TIMEOUT_MS: "1000",
      ...this.options.env,
      ...this.options.serviceEnv?.[name],
    };
  }

  /** Starts (or starts again) a service; it may listen on a new port. */
  async start(name: ServiceName, entry?: string): Promise<ServiceProc> {
    const running = this.procs.get(name);
    if (running && running.child.exitCode === null && running.child.signalCode === null) return running;
    const proc = await spawnEntry(name, this.env(name), entry ?? this.options.entries?.[name]);
    this.procs.set(name, proc);
    return proc;
  }

  proc(name: ServiceName): ServiceProc {
    const proc = this.procs.get(name);
    if (!proc) throw new Error(`${name} is not running`);
    return proc;
  }

  /** URL of a service's current process. */
  url(name: ServiceName): string {
    return this.proc(name).baseUrl;
  }

  private transport(name: ServiceName) {
    const url = this.url(name);
    let transport = this.transports.get(url);
    if (!transport) {
      transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1", defaultTimeoutMs: 10_000 });
      this.transports.set(url, transport);
    }
    return transport;
  }

  settings(): Client<typeof WorkspaceSettingsService> {
    return createClient(WorkspaceSettingsService, this.transport("webhook-gateway"));
  }
  delivery(): Client<typeof DeliveryStatusService> {
    return createClient(DeliveryStatusService, this.transport("delivery-status"));
  }
  stats(): Client<typeof CampaignStatsService> {
    return createClient(CampaignStatsService, this.transport("campaign-stats"));
  }
  suppression(): Client<typeof SuppressionService> {
    return createClient(SuppressionService, this.transport("suppression"));
  }

  /** Which consumer services run (the checker only asks those). */
  running(name: ServiceName): boolean {
    const proc = this.procs.get(name);
    return !!proc && proc.child.exitCode === null && proc.child.signalCode === null;
  }

  /** SIGKILLs every service (the servers are stopped by the harness). */
  async close(): Promise<void> {
    openStacks.delete(this);
    await Promise.all([...this.procs.values()].map((proc) => proc.kill()));
  }
}

/**
 * Stacks of this test file still running. A hook registered inside a running test is not run by vitest, so
 * the file-level hook below closes them (before, every scenario left its service processes running after
 * the run, reparented to init); the exit handler catches a worker that ends without its hooks.
 */
const openStacks = new Set<Stack>();
afterAll(async () => {
  await Promise.all([...openStacks].map((stack) => stack.close()));
});
process.once("exit", () => {
  for (const stack of openStacks) for (const proc of stack.procs.values()) proc.child.kill("SIGKILL");
});
