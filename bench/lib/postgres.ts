/**
 * A private PostgreSQL 15 cluster for a benchmark: `initdb` in a new temp dir,
 * `postgres` in the foreground on a free loopback port (its unix socket in the
 * same dir), databases made with `createdb`, and a stop that shuts it down and
 * removes the dir. Never the machine's own cluster: nothing here reads a port,
 * socket or data dir it did not create.
 *
 * PostgreSQL refuses to run as root, so as root the server runs as the
 * `postgres` account (BENCH_POSTGRES_USER to pick another): the child is
 * spawned with that uid/gid directly (no su/runuser in between), so its pid is
 * the postmaster's and signals reach it unchanged.
 *
 * Durability, stated so figures compare: fsync=on, full_page_writes=on,
 * synchronous_commit=off (BENCH_POSTGRES_SYNCHRONOUS_COMMIT) — a commit does
 * not wait for its WAL flush, the WAL writer flushes within ~3×200 ms. That is
 * what the SQLite backend runs with (`synchronous=normal`: a crash of the
 * machine may lose the last commits, never corrupts), so the two backends pay
 * for the same guarantee.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, tail } from "../../tools/local-servers.ts";
import { treeCpuSeconds } from "./proc.ts";

const run = promisify(execFile);

/** Where Debian's postgresql-15 package puts its binaries (BENCH_POSTGRES_BIN to override). */
export const postgresBinDir = process.env.BENCH_POSTGRES_BIN ?? "/usr/lib/postgresql/15/bin";
const superuser = "postgres";

export interface LocalPostgres {
  readonly port: number;
  /** The postmaster's pid (its backends are its children). */
  readonly pid: number;
  readonly dir: string;
  /** The settings it was started with, for results files. */
  readonly settings: Readonly<Record<string, string>>;
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust auth on loopback: a throwaway cluster). */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  /** CPU seconds of the postmaster and every backend and helper process of this cluster, so far. */
  cpuSeconds(): number;
  /** Fast shutdown (SIGINT), immediate after 30 s, SIGKILL after 10 more; then the dir is removed. */
  stop(): Promise<void>;
}

interface Account {
  uid: number;
  gid: number;
}

/** The unprivileged account to run as when we are root; undefined when we are not root. */
function account(): Account | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const name = process.env.BENCH_POSTGRES_USER ?? "postgres";
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((entry) => entry.split(":")[0] === name);
  if (!line) throw new Error(`running as root and there is no "${name}" account to run PostgreSQL as (set BENCH_POSTGRES_USER)`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

const binaries = ["initdb", "postgres", "createdb", "pg_isready"];

/**
 * Why this machine cannot run a private cluster, or undefined when it can — checked synchronously, so a
 * test can skip with the reason (describe.skipIf).
 */
export function postgresUnavailable(): string | undefined {
  const missing = binaries.map((bin) => join(postgresBinDir, bin)).find((path) => !existsSync(path));
  if (missing) return `${missing} is missing (install postgresql-15 or set BENCH_POSTGRES_BIN)`;
  let as: Account | undefined;
  try {
    as = account();
  } catch (error) {
    return (error as Error).message;
  }
  const probe = spawnSync(join(postgresBinDir, "initdb"), ["--version"], { ...as, timeout: 10_000, encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    return `cannot run ${join(postgresBinDir, "initdb")}: ${probe.error ? String(probe.error) : `exit ${probe.status}: ${probe.stderr.trim()}`}`;
  }
  return undefined;
}

/** Creates and starts the cluster; bounded (initdb 60 s, start-up 30 s). */
export async function startPostgres(): Promise<LocalPostgres> {
  for (const bin of binaries) {
    if (!existsSync(join(postgresBinDir, bin))) throw new Error(`${join(postgresBinDir, bin)} is missing (set BENCH_POSTGRES_BIN)`);
  }
  const as = account();
  const dir = mkdtempSync(join(tmpdir(), "ngsreach-bench-pg-"));
  let server: LocalPostgres | undefined;
  try {
    if (as) chownSync(dir, as.uid, as.gid);
    const spawnAs = as ? { uid: as.uid, gid: as.gid } : {};
    const dataDir = join(dir, "data");
    // -N: initdb's own fsyncs only make a throwaway cluster slower to create.
    await run(join(postgresBinDir, "initdb"), ["-D", dataDir, "-U", superuser, "--auth=trust", "-E", "UTF8", "--locale=C", "-N"], {
      ...spawnAs,
      cwd: dir,
      timeout: 60_000,
    });
    const port = await freePort();
    const settings = {
      listen_addresses: "127.0.0.1",
      port: String(port),
      unix_socket_directories: dir,
      fsync: "on",
      full_page_writes: "on",
      synchronous_commit: process.env.BENCH_POSTGRES_SYNCHRONOUS_COMMIT ?? "off",
      // FerretDB's pool opens up to 50 connections (pool_max_conns) per client credentials.
      max_connections: "200",
      shared_buffers: "256MB",
    };
    const logFile = join(dir, "postgres.log");
    const log = openSync(logFile, "a");
    const child = spawn(join(postgresBinDir, "postgres"), ["-D", dataDir, ...Object.entries(settings).flatMap(([key, value]) => ["-c", `${key}=${value}`])], {
      ...spawnAs,
      cwd: dir,
      stdio: ["ignore", log, log],
    });
    closeSync(log);
    server = cluster(child, dir, port, settings, logFile);
    await waitReady(child, port, logFile);
    return server;
  } catch (error) {
    if (server) await server.stop(); // also removes the dir
    else rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

function cluster(child: ChildProcess, dir: string, port: number, settings: Record<string, string>, logFile: string): LocalPostgres {
  const pid = child.pid!;
  const client = (bin: string, args: string[]) =>
    run(join(postgresBinDir, bin), ["-h", "127.0.0.1", "-p", String(port), "-U", superuser, ...args], { timeout: 30_000 });
  return {
    port,
    pid,
    dir,
    settings: Object.freeze({ ...settings }),
    url: (database) => `postgres://${superuser}@127.0.0.1:${port}/${database}`,
    createDatabase: async (name) => {
      await client("createdb", [name]).catch((error: unknown) => {
        throw new Error(`createdb ${name} failed: ${String(error)}\n${tail(logFile)}`, { cause: error });
      });
    },
    cpuSeconds: () => treeCpuSeconds(pid),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGINT");
        const immediate = setTimeout(() => child.kill("SIGQUIT"), 30_000);
        const kill = setTimeout(() => child.kill("SIGKILL"), 40_000);
        await exited;
        clearTimeout(immediate);
        clearTimeout(kill);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Until a query answers on the TCP port (the postmaster opens it before recovery is done). */
async function waitReady(child: ChildProcess, port: number, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited during start-up:\n${tail(logFile)}`);
    const ready = await run(join(postgresBinDir, "pg_isready"), ["-q", "-h", "127.0.0.1", "-p", String(port), "-U", superuser], { timeout: 5000 }).then(
      () => true,
      () => false,
    );
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`postgres not ready on 127.0.0.1:${port} within 30 s:\n${tail(logFile)}`);
}
