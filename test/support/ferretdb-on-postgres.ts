/**
 * A FerretDB on a PostgreSQL of its own for a test: the benchmark's throwaway cluster (bench/lib/postgres.ts,
 * initdb in a temp dir, a free loopback port, as the `postgres` account when root) and the local FerretDB build
 * with its PostgreSQL handler on it (bench/lib/ferretdb-postgres.ts). Never the machine's own cluster.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFerretDbOnPostgres } from "../../bench/lib/ferretdb-postgres.ts";
import { postgresBinDir, startPostgres, type LocalPostgres } from "../../bench/lib/postgres.ts";

/** Why this machine cannot run a private PostgreSQL cluster, or undefined when it can (checked synchronously, for describe.skipIf). */
export function postgresUnavailable(): string | undefined {
  for (const bin of ["initdb", "postgres", "createdb", "pg_isready"]) {
    if (!existsSync(join(postgresBinDir, bin))) return `${join(postgresBinDir, bin)} is missing (install postgresql-15 or set BENCH_POSTGRES_BIN)`;
  }
  let as: { uid: number; gid: number } | undefined;
  if (process.getuid?.() === 0) {
    const name = process.env.BENCH_POSTGRES_USER ?? "postgres";
    const line = readFileSync("/etc/passwd", "utf8").split("\n").find((entry) => entry.split(":")[0] === name);
    if (!line) return `running as root and there is no "${name}" account to run PostgreSQL as (set BENCH_POSTGRES_USER)`;
    const [, , uid, gid] = line.split(":");
    as = { uid: Number(uid), gid: Number(gid) };
  }
  const probe = spawnSync(join(postgresBinDir, "initdb"), ["--version"], { ...as, timeout: 10_000, encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    return `cannot run ${join(postgresBinDir, "initdb")}: ${probe.error ? String(probe.error) : `exit ${probe.status}: ${probe.stderr.trim()}`}`;
  }
  return undefined;
}

export interface FerretDbOnOwnPostgres {
  /** mongodb:// URL of the FerretDB. */
  readonly url: string;
  /** Stops the FerretDB, then the cluster, and removes both directories. */
  stop(): Promise<void>;
}

/** Starts a cluster, a database `ferretdb` in it and a FerretDB on that database. */
export async function startFerretDbOnOwnPostgres(): Promise<FerretDbOnOwnPostgres> {
  const postgres: LocalPostgres = await startPostgres();
  const dataDir = mkdtempSync(join(tmpdir(), "ngsreach-ferret-pg-"));
  try {
    await postgres.createDatabase("ferretdb");
    const ferret = await startFerretDbOnPostgres({ postgresUrl: postgres.url("ferretdb"), dataDir });
    return {
      url: ferret.url,
      stop: async () => {
        try {
          await ferret.stop();
        } finally {
          await postgres.stop();
          rmSync(dataDir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await postgres.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}
