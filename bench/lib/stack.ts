/**
 * What several benchmarks start first: a private nats-server and FerretDB on
 * free ports under the run's temp dir, and service processes against them,
 * with the pids to sample CPU from. Each start registers its stop in
 * `cleanups` (run in order, newest first), so a failed run stops what it began.
 */
import { freePort, startFerretDb, startNatsServer, type LocalServer } from "../../tools/local-servers.ts";
import { startProcess } from "./service-process.ts";
import { findPid, stopChild } from "./proc.ts";

const portVariables = {
  "delivery-status": "DELIVERY_STATUS_PORT",
  "campaign-stats": "CAMPAIGN_STATS_PORT",
  suppression: "SUPPRESSION_PORT",
} as const;

export type BenchService = keyof typeof portVariables;
type ServiceProc = Awaited<ReturnType<typeof startProcess>>;

export interface BenchStack {
  nats: LocalServer;
  ferret: LocalServer;
  procs: Record<BenchService, ServiceProc | undefined>;
  /** Process ids by name, for CPU and memory samples. */
  pids: Record<string, number>;
  /**
   * Starts a service again on a new port (updating `procs` and `pids`): after a benchmark bulk-loaded
   * suppressions straight into the database, which the running instance's check index never heard of.
   */
  restart(name: BenchService): Promise<ServiceProc>;
}

/** Starts the servers, then the services one after another (the first creates the streams). */
export async function startBenchStack(dir: string, services: readonly BenchService[], cleanups: (() => unknown)[]): Promise<BenchStack> {
  const nats = await startNatsServer({ port: await freePort(), dataDir: `${dir}/nats` });
  cleanups.unshift(() => nats.stop());
  const ferret = await startFerretDb({ port: await freePort(), dataDir: `${dir}/ferretdb` });
  cleanups.unshift(() => ferret.stop());
  const common = { NATS_URL: nats.url, MONGODB_URI: ferret.url, LOG_LEVEL: "warn", LISTEN_HOST: "127.0.0.1" };
  const procs: BenchStack["procs"] = { "delivery-status": undefined, "campaign-stats": undefined, suppression: undefined };
  const pids: Record<string, number> = {};
  const start = async (name: BenchService, label: string = name) => {
    const proc = await startProcess(dir, name, portVariables[name], common, label);
    cleanups.unshift(() => stopChild(proc.child));
    procs[name] = proc;
    pids[name] = proc.pid;
    return proc;
  };
  for (const name of services) await start(name);
  let restarts = 0;
  const restart = async (name: BenchService) => {
    const running = procs[name];
    if (running) await stopChild(running.child);
    return await start(name, `${name}-restarted-${++restarts}`);
  };
  const natsPid = findPid((cmd) => cmd.includes("nats-server") && cmd.includes(`-p\0${nats.port}\0`));
  const ferretPid = findPid((cmd) => cmd.includes("ferretdb") && cmd.includes(`127.0.0.1:${ferret.port}`));
  if (natsPid) pids["nats-server"] = natsPid;
  if (ferretPid) pids.ferretdb = ferretPid;
  return { nats, ferret, procs, pids, restart };
}
