/**
 * The whole pipeline for one fault scenario: a private nats-server (or a
 * three-node cluster) and FerretDB (so they can be stopped, killed and
 * paused), the gateway and the three services as their own processes — one
 * or several instances each — (so they can be SIGKILLed, SIGSTOPped and
 * restarted), one workspace with a webhook secret — and, for a mixed-provider
 * load, a credential of every other provider and the SNS test certificate —
 * and RPC clients that follow a service when a restart moves it to another port.
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
import { providerToApi } from "../../services/shared/providers.ts";
import { credentialText, newProviderKeys, otherProviders, startSnsCertificates, type ProviderKeys, type SnsCertificates } from "./provider-keys.ts";
import type { NatsHandles } from "../../services/shared/nats.ts";
import { startupTimedOut } from "../../services/shared/service-host.ts";
import { freePort, freeze, repoRoot, type LocalServer, type NatsCluster } from "../../tools/local-servers.ts";
import { privateFerretDb, privateNats, privateNatsCluster, testSecretsKey, uniqueName, waitFor } from "../harness.ts";

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

/**
 * V8's code cache of the modules every service loads, shared by all the processes the suites start: a cluster
 * stack starts eight, and with it a process loads its modules in about half the CPU time (Node's
 * NODE_COMPILE_CACHE; a stale or foreign entry is checked and ignored). One set by the caller wins.
 */
const compileCache = process.env.NODE_COMPILE_CACHE ?? join(repoRoot, ".cache", "node-compile-cache");

/** The services' own start-up deadline here: below the wait for /healthz, so a hung start-up says where it hung. */
const startupTimeoutSeconds = 45;

/**
 * Starts a service entry point (default `services/<name>/main.ts`) and waits for /healthz. A start-up that
 * failed for a reason of the machine rather than of the service is started again (at most twice), as an
 * orchestrator would, and said on the console: one that hit its deadline (STARTUP_TIMEOUT_SECONDS; the
 * process exited naming the step — CI saw a delivery-status start-up hang on a fresh machine), one whose
 * port, free when drawn, another process took before the service bound it (a second suite running beside
 * this one), and one not healthy within a minute (a webhook-gateway on a machine at load 10).
 */
export async function spawnEntry(name: ServiceName, env: Record<string, string>, entry?: string): Promise<ServiceProc> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnOnce(name, env, entry);
    } catch (error) {
      const reason = startAgainFor((error as Error).message);
      if (!reason || attempt === 3) throw error;
      console.log(`[faults] ${name} started again: ${reason}`);
    }
  }
}

/** The line of a failed start-up's message that makes it worth another try; undefined for any other failure. */
function startAgainFor(message: string): string | undefined {
  const [first = ""] = message.split("\n");
  if (first.includes(notHealthy)) return first;
  return message.split("\n").find((line) => line.includes(startupTimedOut) || portTaken.test(line));
}

/** What services/shared/rpc/server.ts says when its port is taken. */
const portTaken = /start-up failed: port \d+ on \S+ is already in use/;
/** What spawnOnce's wait for /healthz says when it gave up. */
const notHealthy = "to become healthy";

async function spawnOnce(name: ServiceName, env: Record<string, string>, entry?: string): Promise<ServiceProc> {
  const port = await freePort();
  const child = spawn(process.execPath, [entry ?? join(repoRoot, "services", name, "main.ts")], {
    cwd: repoRoot,
    // One process per gateway instance unless a scenario asks for workers (GATEWAY_PROCESSES in its env).
    env: { NODE_COMPILE_CACHE: compileCache, STARTUP_TIMEOUT_SECONDS: String(startupTimeoutSeconds), ...process.env, LOG_LEVEL: "error", GATEWAY_PROCESSES: "1", ...env, [portVariables[name]]: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const baseUrl = `http://127.0.0.1:${port}`;
  // What /healthz said last, so a start-up that never got healthy says whether it listened at all.
  let lastProbe = "never probed";
  try {
    const healthy = await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) return "exited";
        const answer = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
          async (response) => ((lastProbe = `${response.status} ${await response.text()}`), response.ok),
          (error: unknown) => ((lastProbe = `no answer: ${String((error as Error).cause ?? error)}`), false),
        );
        return answer && "healthy";
      },
      { timeoutMs: 60_000, intervalMs: 100, what: `${name} to become healthy` },
    );
    if (healthy === "exited") throw new Error(`${name} exited`); // its output follows below
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${(error as Error).message} (last /healthz: ${lastProbe})\n${output}`);
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
  /** Three NATS nodes (R3 streams) instead of one; default FAULTS_CLUSTER=1. */
  cluster?: boolean;
  /** Instances of every service; default 2 on a cluster, else 1. */
  instances?: number;
  /** The local FerretDB's per-document locks (off only to show the checker catches what they prevent). */
  documentLocks?: boolean;
  /**
   * "mixed": every workspace also holds a credential of SendGrid, Mailgun, Postmark and SES, the gateway
   * accepts the test SNS certificate, and loads started on the stack spread over all five providers.
   */
  providers?: "resend" | "mixed";
}

/** True when the fault suite runs on a cluster (`FAULTS_CLUSTER=1`). */
export const onCluster = process.env.FAULTS_CLUSTER === "1";

/** The whole cluster as one server: what "NATS stopped" means for a scenario written for one server. */
function wholeCluster(nodes: readonly LocalServer[]): Pick<LocalServer, "stop" | "kill" | "restart" | "pause" | "resume"> {
  return {
    stop: async () => void (await Promise.all(nodes.map((node) => node.stop()))),
    kill: async () => void (await Promise.all(nodes.map((node) => node.kill()))),
    restart: async () => void (await Promise.all(nodes.map((node) => node.restart()))),
    pause: async () => void (await Promise.all(nodes.map((node) => node.pause()))),
    resume: () => nodes.forEach((node) => node.resume()),
  };
}

/** The running pipeline of one scenario. */
export class Stack {
  /** Every instance of each service, by instance number (a restarted instance takes its slot). */
  readonly procs = new Map<ServiceName, ServiceProc[]>();
  readonly workspaceId = uniqueName("ws");
  readonly secrets = new Map<string, string>();
  /** The other providers' credentials of each workspace (a mixed stack only). */
  readonly providerKeys = new Map<string, ProviderKeys>();
  /** The SNS signer and its certificate server (a mixed stack only). */
  sns: SnsCertificates | undefined;
  private readonly transports = new Map<string, ReturnType<typeof createConnectTransport>>();
  private readonly turns = new Map<ServiceName, number>();

  /** The NATS servers: one, or the nodes of the cluster. */
  readonly natsNodes: readonly LocalServer[];
  /** The cluster, when there is one (stream leaders by server name). */
  readonly cluster: NatsCluster | undefined;
  /** Every NATS client URL, comma-separated (what NATS_URL takes). */
  readonly natsUrl: string;
  /** The one server, or the whole cluster at once (every node stopped, killed, paused together). */
  readonly nats: Pick<LocalServer, "stop" | "kill" | "restart" | "pause" | "resume">;
  readonly ferret: LocalServer;
  readonly database: string;
  readonly instances: number;
  private readonly options: StackOptions;

  private constructor(nats: LocalServer | NatsCluster, ferret: LocalServer, database: string, options: StackOptions) {
    this.cluster = "nodes" in nats ? nats : undefined;
    this.natsNodes = "nodes" in nats ? nats.nodes : [nats];
    this.natsUrl = nats.url;
    this.nats = "nodes" in nats ? wholeCluster(nats.nodes) : nats;
    this.ferret = ferret;
    this.database = database;
    this.options = options;
    this.instances = options.instances ?? ("nodes" in nats ? 2 : 1);
  }

  /** Starts servers and services and sets the workspace's secret. */
  static async start(options: StackOptions = {}): Promise<Stack> {
    const started = Date.now();
    const cluster = options.cluster ?? onCluster;
    const [nats, ferret, sns] = await Promise.all([
      cluster ? privateNatsCluster(3) : privateNats(),
      privateFerretDb({ documentLocks: options.documentLocks }),
      options.providers === "mixed" ? startSnsCertificates() : undefined,
    ]);
    const stack = new Stack(nats, ferret, uniqueName("faults"), options);
    stack.sns = sns;
    openStacks.add(stack);
    const names = options.services ?? ["webhook-gateway", ...consumerServices];
    // Every instance of every service starts at once, as a deployment rolls them out: stream, consumer and
    // index creation must not trip over each other.
    await Promise.all(names.flatMap((name) => Array.from({ length: stack.instances }, (_, instance) => stack.start(name, undefined, instance))));
    const workspaces = [stack.workspaceId, ...Array.from({ length: options.extraWorkspaces ?? 0 }, () => uniqueName("ws"))];
    for (const workspaceId of workspaces) {
      const secret = newWebhookSecret();
      await stack.settings().setWebhookSecret({ workspaceId, secret, actor: "faults", note: "fault-injection suite" });
      stack.secrets.set(workspaceId, secret);
      if (!stack.sns) continue;
      const keys = newProviderKeys(stack.sns.signer);
      await Promise.all(
        otherProviders.map((provider) =>
          stack.settings().setWebhookSecret({ workspaceId, secret: credentialText(keys, provider), provider: providerToApi(provider), actor: "faults", note: "fault-injection suite" }),
        ),
      );
      stack.providerKeys.set(workspaceId, keys);
    }
    const shape = cluster ? `${stack.natsNodes.length} NATS nodes, ${stack.instances} instance(s) each` : `${stack.instances} instance(s) each`;
    console.log(`[faults] stack of ${names.length} services (${shape}) started in ${Date.now() - started} ms`);
    return stack;
  }

  /** Environment of a service process. */
  env(name: ServiceName): Record<string, string> {
    return {
      NATS_URL: this.natsUrl,
      MONGODB_URI: this.ferret.url,
      MONGODB_DATABASE: this.database,
      SECRETS_KEY: testSecretsKey,
      WEBHOOK_PUBLISH_TIMEOUT_MS: "1000",
      // A handler stuck on an unanswered database call is retried well inside the checker's 45 s settle window.
      CONSUMER_HANDLER_TIMEOUT_SECONDS: "20",
      EVENTS_REPLICAS: String(this.natsNodes.length),
      ...(this.sns && name === "webhook-gateway" ? { SNS_EXTRA_CERT_URL_PREFIX: this.sns.prefix } : {}),
      ...this.options.env,
      ...this.options.serviceEnv?.[name],
    };
  }

  /** Starts (or starts again) an instance of a service (default the first); it may listen on a new port. */
  async start(name: ServiceName, entry?: string, instance = 0): Promise<ServiceProc> {
    const slots = this.procs.get(name) ?? [];
    this.procs.set(name, slots);
    const running = slots[instance];
    if (running && alive(running)) return running;
    const proc = await spawnEntry(name, this.env(name), entry ?? this.options.entries?.[name]);
    slots[instance] = proc;
    return proc;
  }

  /** Starts every instance of a service that is not running. */
  async startAll(name: ServiceName, entry?: string): Promise<void> {
    await Promise.all(Array.from({ length: this.instances }, (_, instance) => this.start(name, entry, instance)));
  }

  /** An instance of a service (default the first). */
  proc(name: ServiceName, instance = 0): ServiceProc {
    const proc = this.procs.get(name)?.[instance];
    if (!proc) throw new Error(`${name} #${instance} is not running`);
    return proc;
  }

  /** Every instance of a service, running or not. */
  instancesOf(name: ServiceName): ServiceProc[] {
    return [...(this.procs.get(name) ?? [])];
  }

  /**
   * URL of an instance, or (no instance given) of the running instances in turn: webhooks and RPCs
   * spread over every instance, as a load balancer would, so every answer the checker reads may come
   * from either.
   */
  url(name: ServiceName, instance?: number): string {
    if (instance !== undefined) return this.proc(name, instance).baseUrl;
    const running = this.instancesOf(name).filter(alive);
    if (running.length === 0) return this.proc(name).baseUrl; // requests fail as they would against a dead service
    const turn = this.turns.get(name) ?? 0;
    this.turns.set(name, turn + 1);
    return running[turn % running.length]!.baseUrl;
  }

  private transport(url: string) {
    let transport = this.transports.get(url);
    if (!transport) {
      transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1", defaultTimeoutMs: 10_000 });
      this.transports.set(url, transport);
    }
    return transport;
  }

  settings(instance?: number): Client<typeof WorkspaceSettingsService> {
    return createClient(WorkspaceSettingsService, this.transport(this.url("webhook-gateway", instance)));
  }
  delivery(instance?: number): Client<typeof DeliveryStatusService> {
    return createClient(DeliveryStatusService, this.transport(this.url("delivery-status", instance)));
  }
  stats(instance?: number): Client<typeof CampaignStatsService> {
    return createClient(CampaignStatsService, this.transport(this.url("campaign-stats", instance)));
  }
  suppression(instance?: number): Client<typeof SuppressionService> {
    return createClient(SuppressionService, this.transport(this.url("suppression", instance)));
  }

  /** Whether any instance of a service runs (the checker only asks running services). */
  running(name: ServiceName): boolean {
    return this.instancesOf(name).some(alive);
  }

  /** The cluster node that leads a stream now (its replicas elect another when it dies). */
  async streamLeader(nats: NatsHandles, stream: string): Promise<LocalServer> {
    if (!this.cluster) return this.natsNodes[0]!;
    const leader = await waitFor(async () => (await nats.jsm.streams.info(stream)).cluster?.leader, { what: `a leader of ${stream}` });
    const node = this.cluster.node(leader);
    if (!node) throw new Error(`stream ${stream} is led by ${leader}, not a node of this cluster`);
    return node;
  }

  /** The load mix of this stack: mixed only when every provider's credential is set. */
  get providers(): "resend" | "mixed" {
    return this.sns ? "mixed" : "resend";
  }

  /** SIGKILLs every service (the servers are stopped by the harness) and closes the certificate server. */
  async close(): Promise<void> {
    openStacks.delete(this);
    await Promise.all([...this.procs.values()].flat().map((proc) => proc.kill()));
    await this.sns?.server.close();
  }
}

const alive = (proc: ServiceProc) => proc.child.exitCode === null && proc.child.signalCode === null;

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
  for (const stack of openStacks) for (const proc of [...stack.procs.values()].flat()) proc.child.kill("SIGKILL");
});
