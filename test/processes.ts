/**
 * Runs a service as its own process — on Node or on Deno, from the same
 * source — the way `npm start` and production do, for tests that need the
 * real entry point (Deno support, SIGTERM/SIGKILL behaviour).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { freePort, repoRoot } from "../tools/local-servers.ts";
import { waitFor } from "./harness.ts";

export type Runtime = "node" | "deno";

export interface ServiceProcess {
  readonly port: number;
  readonly baseUrl: string;
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

const portVariables: Record<string, string> = {
  "webhook-gateway": "GATEWAY_PORT",
  "delivery-status": "DELIVERY_STATUS_PORT",
  "campaign-stats": "CAMPAIGN_STATS_PORT",
  suppression: "SUPPRESSION_PORT",
};

/** Starts `services/<name>/main.ts` and waits until /healthz answers 200. */
export async function spawnService(runtime: Runtime, name: string, env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort();
  const entry = join(repoRoot, "services", name, "main.ts");
  const command = runtime === "deno" ? join(repoRoot, "node_modules", ".bin", "deno") : process.execPath;
  const args = runtime === "deno" ? ["run", "-A", entry] : [entry];
  const child = spawn(command, args, {
    cwd: repoRoot,
    // One gateway process unless a test asks for workers: tests count what one process does, and the CPU is shared.
    env: { ...process.env, LOG_LEVEL: "warn", GATEWAY_PROCESSES: "1", ...env, [portVariables[name]!]: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited: ${output}`);
      return (await fetch(`${baseUrl}/healthz`).catch(() => undefined))?.ok;
    },
    { timeoutMs: 30_000, what: `${name} on ${runtime} to become healthy` },
  ).catch((error) => {
    child.kill("SIGKILL");
    throw new Error(`${(error as Error).message}\n${output}`);
  });
  return {
    port,
    baseUrl,
    child,
    output: () => output,
    stop: async () => {
      child.kill("SIGTERM");
      return await exited;
    },
    kill: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}
