/**
 * For the command line's tests (not used by the command itself): the four
 * services running against a NATS server of the test file's own (so consumer
 * lag and dead letters are the file's alone) and the run's FerretDB, each
 * service with its own database as deployed; and `ngsreach` run as its own
 * process against them, the way an operator runs it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { campaignStatsService, loadCampaignStatsSettings } from "../services/campaign-stats/service.ts";
import { deliveryStatusService, loadDeliveryStatusSettings } from "../services/delivery-status/service.ts";
import { startService, type RunningService, type ServiceDefinition } from "../services/shared/service-host.ts";
import { loadSuppressionSettings, suppressionService } from "../services/suppression/service.ts";
import { gatewayService, loadGatewaySettings } from "../services/webhook-gateway/service.ts";
import { privateNats, testBaseConfig, testSecretsKey } from "../test/harness.ts";
import { repoRoot } from "../tools/local-servers.ts";
import type { ServiceName } from "./endpoints.ts";

/** Each service's definition; `env` adds to (or overrides) the variables it is configured from. */
const definitions: Record<ServiceName, (env: Record<string, string>) => ServiceDefinition> = {
  "webhook-gateway": (env) => gatewayService(loadGatewaySettings({ GATEWAY_PORT: "0", SECRETS_KEY: testSecretsKey, WEBHOOK_HEALTH_FLUSH_MS: "200", ...env })),
  "delivery-status": (env) => deliveryStatusService(loadDeliveryStatusSettings({ DELIVERY_STATUS_PORT: "0", ...env })),
  "campaign-stats": (env) => campaignStatsService(loadCampaignStatsSettings({ CAMPAIGN_STATS_PORT: "0", ...env })),
  suppression: (env) => suppressionService(loadSuppressionSettings({ SUPPRESSION_PORT: "0", ...env })),
};

const urlVariables: Record<ServiceName, string> = {
  "webhook-gateway": "GATEWAY_URL",
  "delivery-status": "DELIVERY_STATUS_URL",
  "campaign-stats": "CAMPAIGN_STATS_URL",
  suppression: "SUPPRESSION_URL",
};

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliStack {
  natsUrl: string;
  services: Partial<Record<ServiceName, RunningService>>;
  url(service: ServiceName): string;
  /** A gRPC client of a running service. */
  client<S extends DescService>(descriptor: S, service: ServiceName): Client<S>;
  /** The environment `ngsreach` gets: every service's URL, this NATS, no token, no secret from the environment. */
  env(overrides?: Record<string, string>): Record<string, string>;
  /** Runs `ngsreach ARGS...` to its end; `input` is written to its standard input. */
  cli(args: string[], options?: { input?: string; env?: Record<string, string> }): Promise<CliResult>;
  stop(): Promise<void>;
}

export interface CliStackOptions {
  /** Variables a service is started with besides the kit's own (e.g. SECRETS_KEY for erasure). */
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
}

/**
 * Starts the named services (all four unless given) on free ports against a private NATS. The
 * suppression service reads sends (ExportSubscriberData) from this stack's delivery-status when it runs.
 */
export async function startCliStack(names: readonly ServiceName[] = Object.keys(definitions) as ServiceName[], options: CliStackOptions = {}): Promise<CliStack> {
  const natsUrl = (await privateNats()).url;
  const services: Partial<Record<ServiceName, RunningService>> = {};
  // A service not started points at a port nothing listens on: the command says so.
  const url = (name: ServiceName) => `http://127.0.0.1:${services[name]?.port ?? 9}`;
  for (const name of names) {
    const own: Record<string, string> = name === "suppression" && services["delivery-status"] ? { DELIVERY_STATUS_URL: url("delivery-status") } : {};
    services[name] = await startService(definitions[name]({ ...own, ...options.serviceEnv?.[name] }), testBaseConfig({ natsUrl }));
  }
  const env = (overrides: Record<string, string> = {}) => {
    const { INTERNAL_TOKEN: _token, NGSREACH_WEBHOOK_SECRET: _secret, ...inherited } = process.env as Record<string, string>;
    const urls = Object.fromEntries(Object.entries(urlVariables).map(([name, variable]) => [variable, url(name as ServiceName)]));
    return { ...inherited, ...urls, NATS_URL: natsUrl, ...overrides };
  };
  return {
    natsUrl,
    services,
    url,
    client: (descriptor, service) => createClient(descriptor, createGrpcTransport({ baseUrl: url(service) })),
    env,
    cli: (args, options = {}) => runCli(args, env(options.env), options.input),
    stop: async () => {
      await Promise.all(Object.values(services).map((service) => service.stop()));
    },
  };
}

/** The command line as a process: `node cli/ngsreach.ts ARGS...`. */
export function runCli(args: string[], env: Record<string, string>, input?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, "cli", "ngsreach.ts"), ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

export interface FollowedCli {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Everything printed so far, standard output and error together. */
  output(): string;
}

const shellQuote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/**
 * Starts `ngsreach ARGS...` and lets the test read its output as it comes and write to it. `terminal`: on a
 * pseudo-terminal made by script(1), as a user at a terminal runs it — what the test writes to `child.stdin`
 * is typed, and Ctrl-C ("\u0003") reaches the command as SIGINT.
 */
export function followCli(args: string[], env: Record<string, string>, { terminal = false } = {}): FollowedCli {
  const command = [process.execPath, join(repoRoot, "cli", "ngsreach.ts"), ...args];
  const child = terminal
    ? // `exec`: script(1) runs the command through $SHELL -c; dash (/bin/sh, what script picks when SHELL is
      // unset, as on CI) keeps itself as the parent, gets the terminal's SIGINT too and dies of it: exit 130.
      spawn("script", ["-qefc", `exec ${command.map(shellQuote).join(" ")}`, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] })
    : spawn(command[0]!, command.slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited, output: () => output };
}
