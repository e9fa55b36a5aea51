/**
 * Starts the two Go-built local servers — nats-server with JetStream (one, or
 * a local cluster of several) and FerretDB (MongoDB wire protocol, SQLite
 * backend) — as child processes.
 * Used by `npm start` (the local stack) and by the test harness, which also
 * stops, kills, pauses and restarts them to test faults.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, closeSync, readFileSync, readdirSync, existsSync, rmSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
export const binDir = join(repoRoot, ".cache", "bin");
export const natsServerBin = join(binDir, "nats-server");
export const ferretDbBin = join(binDir, "ferretdb-local");
/** Not a server: the gRPC client the tests call the services with through reflection (built beside them). */
export const grpcurlBin = join(binDir, "grpcurl");

/** A running local server that can be stopped, killed, paused and restarted on the same port and data. */
export interface LocalServer {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit (no clean shutdown). */
  kill(): Promise<void>;
  /** Start again on the same port and data directory. */
  restart(): Promise<void>;
  /** SIGSTOP, resolved once every thread of the process has stopped: it holds its sockets but answers nothing. */
  pause(): Promise<void>;
  /** SIGCONT after pause(). */
  resume(): void;
}

/** Thrown when a port the stack needs is taken; names the variable that moves it. */
export class PortInUseError extends Error {
  constructor(port: number, variable: string) {
    super(`port ${port} is already in use on 127.0.0.1; set ${variable} to a free port`);
    this.name = "PortInUseError";
  }
}

/**
 * A loopback port nothing listens on, drawn at random from below the kernel's ephemeral range. Not
 * `listen(0)`: that hands out a port from the ephemeral range, which every outgoing connection draws its
 * local port from too — a nats-server's route to a peer took the port another cluster member was about to
 * bind (CI, two clusters starting at once), and a node restarted on its old port can meet the same.
 */
export async function freePort(): Promise<number> {
  const [low, high] = portDrawRange();
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    // Never the same port twice in one process: two draws at once (a cluster and a database started
    // together) both find it free before either binds it.
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canBind(port)) return port;
  }
  throw new Error(`freePort: 50 random ports in ${low}-${high} were all taken on 127.0.0.1`);
}

const handedOut = new Set<number>();

/** 10000 up to the start of the ephemeral range (Linux: /proc/sys/net/ipv4/ip_local_port_range; 32768 elsewhere). */
function portDrawRange(): [number, number] {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // not Linux: the IANA dynamic range starts at 49152, so 32768 is below any common default
  }
  const [low, high] = ephemeralLow > 12_000 ? [10_000, ephemeralLow] : [ephemeralLow, 65_535];
  // Each vitest worker draws from its own eighth, so two test files starting stacks at once never pick alike.
  const worker = Number(process.env.VITEST_POOL_ID);
  if (!Number.isInteger(worker) || worker < 1) return [low, high];
  const slice = Math.floor((high - low) / 8);
  const start = low + ((worker - 1) % 8) * slice;
  return [start, start + slice];
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Fails with PortInUseError when something already listens on the port. */
export async function assertPortFree(port: number, variable: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "EADDRINUSE" ? new PortInUseError(port, variable) : error),
    );
    server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
  });
}

export interface NatsServerOptions {
  port: number;
  /** HTTP monitoring port (`/healthz`, `/jsz`); 0 disables it. */
  monitorPort?: number;
  dataDir: string;
  portVariable?: string;
  /** Run in its own process group, so a terminal's Ctrl-C does not reach it before its clients stop. */
  detached?: boolean;
  /** Named in the error when monitorPort is taken (default LOCAL_NATS_MONITOR_PORT). */
  monitorPortVariable?: string;
  /** Member of a JetStream cluster (see startNatsCluster); routePorts are every member's cluster port. */
  cluster?: { name: string; serverName: string; port: number; routePorts: number[]; portVariable?: string };
}

/** Starts nats-server with JetStream (file storage under dataDir). */
export async function startNatsServer(options: NatsServerOptions): Promise<LocalServer> {
  const args = ["-a", "127.0.0.1", "-p", String(options.port), "-js", "-sd", join(options.dataDir, "jetstream")];
  if (options.monitorPort) args.push("-m", String(options.monitorPort));
  const otherPorts: { port: number; variable: string }[] = [];
  if (options.monitorPort) otherPorts.push({ port: options.monitorPort, variable: options.monitorPortVariable ?? "LOCAL_NATS_MONITOR_PORT" });
  const cluster = options.cluster;
  if (cluster) {
    args.push("--server_name", cluster.serverName, "--cluster_name", cluster.name, "--cluster", `nats://127.0.0.1:${cluster.port}`);
    args.push("--routes", cluster.routePorts.map((port) => `nats://127.0.0.1:${port}`).join(","));
    otherPorts.push({ port: cluster.port, variable: cluster.portVariable ?? "LOCAL_NATS_CLUSTER_PORT" });
  }
  return await startLocalServer({
    name: "nats-server",
    bin: natsServerBin,
    args,
    port: options.port,
    url: `nats://127.0.0.1:${options.port}`,
    dataDir: options.dataDir,
    portVariable: options.portVariable ?? "LOCAL_NATS_PORT",
    otherPorts,
    detached: options.detached ?? false,
  });
}

/** One member of a local JetStream cluster. */
export interface NatsClusterNode extends LocalServer {
  /** Its `--server_name`: how stream and consumer info name their leader and replicas. */
  readonly serverName: string;
  readonly clusterPort: number;
  readonly monitorPort: number;
}

export interface NatsCluster {
  readonly name: string;
  readonly nodes: readonly NatsClusterNode[];
  /** Every node's client URL, comma-separated: what NATS_URL takes. */
  readonly url: string;
  /** The node of that server name (e.g. a stream's `cluster.leader`). */
  node(serverName: string): NatsClusterNode | undefined;
  /** Resolves once every node agrees on a JetStream meta leader that sees all nodes current (see startNatsCluster). */
  waitReady(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  nodes: number;
  /** Node i (from 1) keeps its data in `<dataDir>/nats-<i>`. */
  dataDir: string;
  /** Ports of each node; when omitted, free ones are drawn (and drawn again if one is taken before its bind: give a fresh dataDir). */
  ports?: readonly { client: number; cluster: number; monitor: number }[];
  /** Named in the error when a port is taken. */
  portVariables?: { client: string; cluster: string; monitor: string };
  name?: string;
  detached?: boolean;
}

/**
 * Starts a JetStream cluster of `nodes` nats-servers on loopback, each with its own store, server name,
 * route port (routes to every member) and monitoring port, and returns once it is ready: each node's
 * `/healthz` is ok (which, clustered, means it is in contact with a meta leader) and the meta leader's
 * `/jsz` lists every other node as a current peer — before that, creating an R3 stream can fail
 * for lack of known peers.
 */
export async function startNatsCluster(options: NatsClusterOptions): Promise<NatsCluster> {
  if (options.ports) return await startClusterOn(options, options.ports);
  // Ports drawn here may be taken between the draw and the bind by someone else: draw again, twice at most.
  for (let attempt = 1; ; attempt++) {
    const ports = await Promise.all(
      Array.from({ length: options.nodes }, async () => ({ client: await freePort(), cluster: await freePort(), monitor: await freePort() })),
    );
    try {
      return await startClusterOn(options, ports);
    } catch (error) {
      const taken = error instanceof PortInUseError || /address already in use/.test(String(error));
      if (!taken || attempt === 3) throw error;
      // The failed nodes may have begun a JetStream cluster store that names the old routes.
      for (let node = 1; node <= options.nodes; node++) rmSync(join(options.dataDir, `nats-${node}`), { recursive: true, force: true });
    }
  }
}

async function startClusterOn(options: NatsClusterOptions, ports: readonly { client: number; cluster: number; monitor: number }[]): Promise<NatsCluster> {
  const name = options.name ?? "ngsreach";
  const variables = options.portVariables ?? { client: "LOCAL_NATS_PORT", cluster: "LOCAL_NATS_CLUSTER_PORT", monitor: "LOCAL_NATS_MONITOR_PORT" };
  if (ports.length !== options.nodes) throw new Error(`startNatsCluster: ${options.nodes} nodes but ${ports.length} port sets`);
  const routePorts = ports.map((port) => port.cluster);
  const started = await Promise.allSettled(
    ports.map(async (port, index): Promise<NatsClusterNode> => {
      const serverName = `nats-${index + 1}`;
      const server = await startNatsServer({
        port: port.client,
        monitorPort: port.monitor,
        dataDir: join(options.dataDir, serverName),
        portVariable: variables.client,
        monitorPortVariable: variables.monitor,
        cluster: { name, serverName, port: port.cluster, routePorts, portVariable: variables.cluster },
        detached: options.detached ?? false,
      });
      return Object.assign(server, { serverName, clusterPort: port.cluster, monitorPort: port.monitor });
    }),
  );
  const nodes = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failed = started.find((result) => result.status === "rejected");
  if (failed) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw failed.reason;
  }
  const cluster: NatsCluster = {
    name,
    nodes,
    url: nodes.map((node) => node.url).join(","),
    node: (serverName) => nodes.find((node) => node.serverName === serverName),
    waitReady: (timeoutMs = 30_000) => waitClusterReady(nodes, timeoutMs),
    stop: async () => {
      await Promise.all(nodes.map((node) => node.stop()));
    },
  };
  try {
    await cluster.waitReady();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

async function waitClusterReady(nodes: readonly NatsClusterNode[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let problem = "not asked yet";
  while (Date.now() < deadline) {
    problem = await clusterProblem(nodes);
    if (problem === "") return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const logs = nodes.map((node) => `--- ${node.serverName}:\n${tail(join(node.dataDir, `${node.name}.log`))}`).join("\n");
  throw new Error(`the NATS cluster was not ready within ${timeoutMs} ms (${problem}):\n${logs}`);
}

/** The parts of nats-server's monitoring answers the readiness check reads. */
interface Healthz {
  status: string;
  error?: string;
}
interface Jsz {
  meta_cluster?: { leader?: string; replicas?: { name: string; current: boolean }[] };
}

/** Why the cluster is not ready yet, or "" when it is. */
async function clusterProblem(nodes: readonly NatsClusterNode[]): Promise<string> {
  const ask = async <T>(node: NatsClusterNode, path: string): Promise<T> => {
    const response = await fetch(`http://127.0.0.1:${node.monitorPort}${path}`, { signal: AbortSignal.timeout(2000) });
    return (await response.json()) as T;
  };
  try {
    const leaders = new Set<string>();
    for (const node of nodes) {
      const health = await ask<Healthz>(node, "/healthz");
      if (health.status !== "ok") return `${node.serverName}: ${health.error ?? health.status}`;
      leaders.add((await ask<Jsz>(node, "/jsz")).meta_cluster?.leader ?? "");
    }
    const [leader] = leaders;
    if (leaders.size !== 1 || !leader) return `meta leader seen as ${[...leaders].join(" / ") || "none"}`;
    const leaderNode = nodes.find((node) => node.serverName === leader);
    if (!leaderNode) return `meta leader ${leader} is not one of this cluster's nodes`;
    const peers = (await ask<Jsz>(leaderNode, "/jsz")).meta_cluster?.replicas ?? [];
    const current = peers.filter((peer) => peer.current).length;
    return current === nodes.length - 1 ? "" : `meta leader ${leader} sees ${current} of ${nodes.length - 1} peers current`;
  } catch (error) {
    return String(error);
  }
}

export interface FerretDbOptions {
  port: number;
  dataDir: string;
  portVariable?: string;
  detached?: boolean;
  /**
   * Per-document atomicity of updates, findAndModify and deletes (a patch of scripts/build-tools.ts); default
   * true. false gives FerretDB's own lost updates, only so a test can show that its checker catches them.
   */
  documentLocks?: boolean;
  /**
   * `postgres://user@host:port/database`: FerretDB's PostgreSQL backend on that (existing) database instead
   * of SQLite under dataDir — what the benchmarks compare backends with (bench/lib/postgres.ts).
   */
  postgresUrl?: string;
}

/** Starts FerretDB v1 (embedded, SQLite backend) with its files under dataDir. */
export async function startFerretDb(options: FerretDbOptions): Promise<LocalServer> {
  const sqliteDir = join(options.dataDir, "sqlite");
  if (!options.postgresUrl) mkdirSync(sqliteDir, { recursive: true });
  const backend = options.postgresUrl
    ? ["-handler", "postgresql", "-postgresql-url", options.postgresUrl]
    : ["-sqlite-url", `file:${sqliteDir}/?_pragma=synchronous(normal)`];
  return await startLocalServer({
    name: "ferretdb",
    bin: ferretDbBin,
    args: ["-listen-addr", `127.0.0.1:${options.port}`, ...backend, `-document-locks=${options.documentLocks ?? true}`],
    port: options.port,
    url: `mongodb://127.0.0.1:${options.port}/`,
    dataDir: options.dataDir,
    portVariable: options.portVariable ?? "LOCAL_MONGO_PORT",
    detached: options.detached ?? false,
  });
}

interface Spec {
  name: string;
  bin: string;
  args: string[];
  port: number;
  url: string;
  dataDir: string;
  portVariable: string;
  /** More ports the server listens on, checked free before and awaited after a launch. */
  otherPorts?: { port: number; variable: string }[];
  detached: boolean;
}

async function startLocalServer(spec: Spec): Promise<LocalServer> {
  if (!existsSync(spec.bin)) {
    throw new Error(`${spec.bin} is missing: run \`npm run tools\` (builds the local servers with Go)`);
  }
  mkdirSync(spec.dataDir, { recursive: true });
  const logFile = join(spec.dataDir, `${spec.name}.log`);
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    await assertPortFree(spec.port, spec.portVariable);
    for (const other of spec.otherPorts ?? []) await assertPortFree(other.port, other.variable);
    const log = openSync(logFile, "a");
    const started = spawn(spec.bin, spec.args, { stdio: ["ignore", log, log], detached: spec.detached });
    closeSync(log);
    child = started;
    await waitForPort(spec.port, started, () => tail(logFile), spec.name);
    // nats-server opens its client port first and exits when a later one (routes) is taken.
    for (const other of spec.otherPorts ?? []) await waitForPort(other.port, started, () => tail(logFile), spec.name);
  };

  const signalAndWait = async (signal: NodeJS.Signals): Promise<void> => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    running.kill("SIGCONT");
    running.kill(signal);
    await exited;
  };

  await launch();
  return {
    name: spec.name,
    url: spec.url,
    port: spec.port,
    dataDir: spec.dataDir,
    stop: () => signalAndWait("SIGTERM"),
    kill: () => signalAndWait("SIGKILL"),
    restart: async () => {
      await signalAndWait("SIGTERM");
      await launch();
    },
    pause: () => (child ? freeze(child) : Promise.resolve()),
    resume: () => void child?.kill("SIGCONT"),
  };
}

/**
 * SIGSTOP a child and wait until the kernel stopped all its threads. kill() only queues the signal: the
 * group stop begins when one thread takes it, and until then the process's other threads run on (a
 * nats-server acknowledged a publish sent after kill() returned, on a loaded machine).
 */
export async function freeze(child: ChildProcess): Promise<void> {
  if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGSTOP");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (allThreadsStopped(child.pid)) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`process ${child.pid} did not stop within 10 s of SIGSTOP`);
}

function allThreadsStopped(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).every((tid) => {
      // The state is the field after the parenthesised command name, which may itself hold spaces.
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "latin1");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      return state === "T" || state === "t";
    });
  } catch {
    return true; // no /proc entry: the process is gone (or this is not Linux, where kill() is all we can do)
  }
}

async function waitForPort(port: number, child: ChildProcess, log: () => string, name: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited during start-up:\n${log()}`);
    }
    if (await canConnect(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`${name} did not listen on 127.0.0.1:${port} within 20 s:\n${log()}`);
}

/** True when something accepts TCP connections on the loopback port. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** The last 20 lines of a log file (or a note that there is none). */
export function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "(no log)";
  }
}
