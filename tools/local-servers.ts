/**
 * Starts the two Go-built local servers — nats-server with JetStream and
 * FerretDB (MongoDB wire protocol, SQLite backend) — as child processes.
 * Used by `npm start` (the local stack) and by the test harness, which also
 * stops, kills, pauses and restarts them to test faults.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, closeSync, readFileSync, readdirSync, existsSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
export const binDir = join(repoRoot, ".cache", "bin");
export const natsServerBin = join(binDir, "nats-server");
export const ferretDbBin = join(binDir, "ferretdb-local");

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

/** Asks the OS for a free loopback port. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
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
}

/** Starts nats-server with JetStream (file storage under dataDir). */
export async function startNatsServer(options: NatsServerOptions): Promise<LocalServer> {
  const args = ["-a", "127.0.0.1", "-p", String(options.port), "-js", "-sd", join(options.dataDir, "jetstream")];
  if (options.monitorPort) args.push("-m", String(options.monitorPort));
  return await startLocalServer({
    name: "nats-server",
    bin: natsServerBin,
    args,
    port: options.port,
    url: `nats://127.0.0.1:${options.port}`,
    dataDir: options.dataDir,
    portVariable: options.portVariable ?? "LOCAL_NATS_PORT",
    detached: options.detached ?? false,
  });
}

export interface FerretDbOptions {
  port: number;
  dataDir: string;
  portVariable?: string;
  detached?: boolean;
}

/** Starts FerretDB v1 (embedded, SQLite backend) with its files under dataDir. */
export async function startFerretDb(options: FerretDbOptions): Promise<LocalServer> {
  const sqliteDir = join(options.dataDir, "sqlite");
  mkdirSync(sqliteDir, { recursive: true });
  return await startLocalServer({
    name: "ferretdb",
    bin: ferretDbBin,
    args: ["-listen-addr", `127.0.0.1:${options.port}`, "-sqlite-url", `file:${sqliteDir}/?_pragma=synchronous(normal)`],
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
    const log = openSync(logFile, "a");
    const started = spawn(spec.bin, spec.args, { stdio: ["ignore", log, log], detached: spec.detached });
    closeSync(log);
    child = started;
    await waitForPort(spec.port, started, () => tail(logFile), spec.name);
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

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "(no log)";
  }
}
