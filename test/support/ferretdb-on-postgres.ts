/**
 * A FerretDB on a PostgreSQL of its own for a test: the benchmark's throwaway cluster (bench/lib/postgres.ts,
 * initdb in a temp dir, a free loopback port, as the `postgres` account when root) and the local FerretDB build
 * with its PostgreSQL handler on it. Never the machine's own cluster.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startFerretDb } from "../../tools/local-servers.ts";
import { postgresUnavailable, startPostgres, type LocalPostgres } from "../../bench/lib/postgres.ts";

export { postgresUnavailable };

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
    const ferret = await startFerretDb({ port: await freePort(), dataDir, postgresUrl: postgres.url("ferretdb") });
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
