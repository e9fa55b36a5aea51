/**
 * MongoDB connection. Repositories receive a `Db` and create their own
 * indexes at start-up (with ensureIndexes); nothing outside a repository
 * touches the driver.
 */
import { withTimeout } from "./with-timeout.ts";
import { MongoClient, type Collection, type Db, type IndexDescription } from "mongodb";
import type { Logger } from "./log.ts";
import { watchMongoMonitor } from "./mongo-watchdog.ts";
import { traceMongoCommands } from "./tracing/mongo-spans.ts";
import { activeTracing } from "./tracing/spans.ts";

export interface MongoHandles {
  client: MongoClient;
  db: Db;
  /** True when the server answers a ping within a second. */
  ping(): Promise<boolean>;
  /** Stops the monitor watchdog and closes the client. */
  close(): Promise<void>;
}

/** Bounds a connection attempt and each heartbeat (the driver's default is 30 s). */
const connectTimeoutMS = 5000;
const heartbeatFrequencyMS = 2000;

/** Connects and checks the server answers; the message names MONGODB_URI when it does not. */
export async function connectMongo(uri: string, database: string, appName: string, log?: Logger): Promise<MongoHandles> {
  // Check the server every 2 s: after a database restart a service sees it again within seconds instead of
  // waiting for the default 10 s heartbeat.
  const client = new MongoClient(uri, {
    appName,
    serverSelectionTimeoutMS: 5000,
    retryWrites: false,
    heartbeatFrequencyMS,
    connectTimeoutMS,
    // An event object per command (not per document: a bulk write is one), for the write-statement counter
    // (database-writes.ts) and, while tracing, a span per command.
    monitorCommands: true,
  });
  if (activeTracing()) traceMongoCommands(client);
  if (log) logServerChanges(client, log);
  try {
    await client.connect();
    await client.db(database).command({ ping: 1 });
  } catch (error) {
    await client.close().catch(() => {});
    throw new Error(`cannot reach the database at ${redactUri(uri)} (set MONGODB_URI): ${String(error)}`, { cause: error });
  }
  const watchdog = watchMongoMonitor(client, log, { stuckAfterMs: connectTimeoutMS + heartbeatFrequencyMS + 8000 });
  const db = client.db(database);
  return {
    client,
    db,
    close: async () => {
      watchdog.stop();
      await client.close();
    },
    ping: async () => {
      // Bounded here, not by the driver's `timeoutMS` (mongodb 7.9 ignores it): a ping written on a connection
      // the server dropped at that moment can wait forever, and /healthz must still answer.
      return (await withTimeout(db.command({ ping: 1 }).then(() => true), 1000)) ?? false;
    },
  };
}

/**
 * Server codes retrying cannot help: an index that exists under this name or key with other options (85,
 * 86), or an option the server does not implement (238: FerretDB v1 and TTL indexes).
 */
const indexConflictCodes = new Set([85, 86, 238]);

/**
 * Creates the indexes that do not exist yet, one per command, so that instances starting together on
 * one database all succeed. FerretDB v1 drops the connection when asked to create an index that exists
 * (for a command naming several, even when only one does), and two instances racing on the same index
 * can each see it missing: so after an error the list is read again — the index existing now (another
 * instance made it) is success — and otherwise the creation is retried with a short backoff a few
 * times before a clear error. Unnamed indexes get the driver's default name, so the same index is
 * recognised whether it was created here or by earlier code.
 */
export async function ensureIndexes(collection: Collection<any>, indexes: readonly IndexDescription[], attempts = 5): Promise<void> {
  for (const index of indexes) {
    const name = index.name ?? Object.entries(index.key).flat().join("_");
    for (let attempt = 1; ; attempt++) {
      try {
        if ((await indexNames(collection)).has(name)) break;
        await collection.createIndexes([{ ...index, name }]);
        break;
      } catch (error) {
        const exists = await indexNames(collection).then(
          (names) => names.has(name),
          () => false,
        );
        if (exists) break;
        const code = (error as { code?: unknown }).code;
        if (attempt >= attempts || (typeof code === "number" && indexConflictCodes.has(code))) {
          throw new Error(`cannot create index ${name} on ${collection.collectionName} (${attempt} attempts): ${String(error)}`, { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** (attempt - 1) + Math.random() * 100));
      }
    }
  }
}

/** Names of a collection's indexes; none when the collection does not exist yet. */
async function indexNames(collection: Collection<any>): Promise<Set<string>> {
  try {
    return new Set((await collection.listIndexes().toArray()).map((index) => index.name as string));
  } catch (error) {
    if ((error as { code?: unknown }).code === 26) return new Set(); // NamespaceNotFound
    throw error;
  }
}

/** Hides credentials in a connection string before it reaches a log or an error. */
export function redactUri(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, "//***@");
}

/**
 * True for a write that failed only on duplicate keys — a single write's error, or a bulk write's whose
 * every write error is one (an `_id` stored before, or an upsert that lost its version guard).
 */
export function isDuplicateKeyError(error: unknown): boolean {
  const { code, writeErrors } = (error ?? {}) as { code?: number; writeErrors?: unknown };
  if (Array.isArray(writeErrors) && writeErrors.length > 0) return writeErrors.every((entry: { code?: number }) => entry.code === 11000);
  return code === 11000;
}

/** Logs when the database is lost and found again (a line per change, not per heartbeat). */
function logServerChanges(client: MongoClient, log: Logger): void {
  client.on("serverDescriptionChanged", (event) => {
    const before = event.previousDescription.type;
    const after = event.newDescription.type;
    if (before === after) return;
    if (after === "Unknown") log.warn("database unreachable", { address: event.address, error: event.newDescription.error ?? undefined });
    else if (before === "Unknown") log.info("database reachable", { address: event.address, type: after });
  });
}
