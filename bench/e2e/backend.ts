/**
 * The database under the e2e benchmark: FerretDB on SQLite (what the stack
 * and the tests run) or FerretDB on PostgreSQL (the bench's own initdb
 * cluster), with a CPU meter per database process so "database CPU per event"
 * means the same on both: FerretDB, plus for PostgreSQL every process of the
 * cluster (postmaster, backends, WAL writer, checkpointer, autovacuum).
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ferretDbBin, freePort, startFerretDb } from "../../tools/local-servers.ts";
import { startPostgres } from "../lib/postgres.ts";
import { cpuSeconds, findPid } from "../lib/proc.ts";

export const backends = ["sqlite", "postgresql"] as const;
export type Backend = (typeof backends)[number];

export interface BenchDatabase {
  backend: Backend;
  /** mongodb:// URL of FerretDB. */
  url: string;
  /** CPU seconds so far, by database process name ("ferretdb", "postgres"). */
  cpu: Record<string, () => number>;
  /** Pids to read peak memory from (FerretDB; the postmaster alone says little about PostgreSQL). */
  pids: Record<string, number>;
  /** What it runs with, for the results file. */
  settings: Record<string, unknown>;
}

/** A backend name from the environment, or the default; anything else stops the run naming the variable. */
export function backendFrom(variable: string, fallback: Backend): Backend {
  const raw = process.env[variable]?.trim();
  if (!raw) return fallback;
  const found = backends.find((name) => name === raw);
  if (!found) throw new Error(`${variable}: expected one of ${backends.join(", ")}, got "${raw}"`);
  return found;
}

/**
 * Which FerretDB build a cell ran: the binary is rebuilt in place (scripts/build-tools.ts) when its patches
 * change, possibly between two cells of one run, and the figures move with it.
 */
function ferretDbBuild() {
  return { sha256: createHash("sha256").update(readFileSync(ferretDbBin)).digest("hex").slice(0, 16), modified: statSync(ferretDbBin).mtime.toISOString() };
}

/** Starts the backend's servers under `dir`; each start registers its stop in `cleanups` (newest first). */
export async function startDatabase(backend: Backend, dir: string, cleanups: (() => unknown)[]): Promise<BenchDatabase> {
  if (backend === "sqlite") {
    const ferret = await startFerretDb({ port: await freePort(), dataDir: join(dir, "ferretdb") });
    cleanups.unshift(() => ferret.stop());
    const pid = findPid((cmd) => cmd.includes("ferretdb") && cmd.includes(`127.0.0.1:${ferret.port}`));
    return {
      backend,
      url: ferret.url,
      cpu: pid ? { ferretdb: () => cpuSeconds(pid) } : {},
      pids: pid ? { ferretdb: pid } : {},
      settings: { build: ferretDbBuild(), handler: "sqlite", sqlite: "synchronous=normal, document locks: as tools/local-servers.ts starts it" },
    };
  }
  const postgres = await startPostgres();
  cleanups.unshift(() => postgres.stop());
  await postgres.createDatabase("ferretdb");
  // Each update atomic per document, as on SQLite (patch 4 of scripts/build-tools.ts is in FerretDB's handler,
  // so it holds on either backend).
  const ferret = await startFerretDb({ port: await freePort(), dataDir: join(dir, "ferretdb"), postgresUrl: postgres.url("ferretdb") });
  cleanups.unshift(() => ferret.stop());
  const pid = findPid((cmd) => cmd.includes("ferretdb") && cmd.includes(`127.0.0.1:${ferret.port}`));
  return {
    backend,
    url: ferret.url,
    cpu: { ...(pid ? { ferretdb: () => cpuSeconds(pid) } : {}), postgres: () => postgres.cpuSeconds() },
    pids: pid ? { ferretdb: pid } : {},
    settings: { build: ferretDbBuild(), handler: "postgresql", documentLocks: true, postgres: postgres.settings },
  };
}
