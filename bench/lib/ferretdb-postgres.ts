/**
 * The local FerretDB build (`.cache/bin/ferretdb-local`, the same binary the
 * SQLite stack runs) with its PostgreSQL handler, against a database of a
 * benchmark's own cluster (postgres.ts), on a free loopback port. Lives here
 * rather than in tools/local-servers.ts because only benchmarks compare
 * backends; the stack and the tests run SQLite.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { canConnect, ferretDbBin, freePort, tail } from "../../tools/local-servers.ts";
import { stopChild } from "./proc.ts";

export interface FerretDbOnPostgres {
  /** mongodb:// URL for the services and the driver. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly logFile: string;
  /** SIGTERM and wait (SIGKILL after 20 s). */
  stop(): Promise<void>;
}

export interface FerretDbOnPostgresOptions {
  /** postgres://user@host:port/database of an existing database. */
  postgresUrl: string;
  /** Where its log goes. */
  dataDir: string;
  /** More flags, passed after the handler's (e.g. what tools/local-servers.ts passes the SQLite one). */
  extraArgs?: readonly string[];
}

/** Starts it and resolves once it accepts connections (20 s at most). */
export async function startFerretDbOnPostgres(options: FerretDbOnPostgresOptions): Promise<FerretDbOnPostgres> {
  if (!existsSync(ferretDbBin)) throw new Error(`${ferretDbBin} is missing: run \`npm run tools\``);
  mkdirSync(options.dataDir, { recursive: true });
  const port = await freePort();
  const logFile = join(options.dataDir, "ferretdb-postgresql.log");
  const log = openSync(logFile, "a");
  const args = ["-handler", "postgresql", "-postgresql-url", options.postgresUrl, "-listen-addr", `127.0.0.1:${port}`, ...(options.extraArgs ?? [])];
  const child = spawn(ferretDbBin, args, { stdio: ["ignore", log, log] });
  closeSync(log);
  const server: FerretDbOnPostgres = { url: `mongodb://127.0.0.1:${port}/`, port, pid: child.pid!, logFile, stop: () => stopChild(child) };
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`ferretdb (postgresql) exited during start-up:\n${tail(logFile)}`);
    if (await canConnect(port)) return server;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await server.stop();
  throw new Error(`ferretdb (postgresql) did not listen on 127.0.0.1:${port} within 20 s:\n${tail(logFile)}`);
}

