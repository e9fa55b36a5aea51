/**
 * MongoDB connection. Repositories receive a `Db` and create their own
 * indexes at start-up; nothing outside a repository touches the driver.
 */
import { MongoClient, type Db } from "mongodb";

export interface MongoHandles {
  client: MongoClient;
  db: Db;
  /** True when the server answers a ping within a second. */
  ping(): Promise<boolean>;
}

/** Connects and checks the server answers; the message names MONGODB_URI when it does not. */
export async function connectMongo(uri: string, database: string, appName: string): Promise<MongoHandles> {
  // Check the server every 2 s: after a database restart a service sees it again within seconds instead of
  // waiting for the default 10 s heartbeat.
  const client = new MongoClient(uri, {
    appName,
    serverSelectionTimeoutMS: 5000,
    retryWrites: false,
    heartbeatFrequencyMS: 2000,
  });
  try {
    await client.connect();
    await client.db(database).command({ ping: 1 });
  } catch (error) {
    await client.close().catch(() => {});
    throw new Error(`cannot reach the database at ${redactUri(uri)} (set MONGODB_URI): ${String(error)}`, { cause: error });
  }
  const db = client.db(database);
  return {
    client,
    db,
    ping: async () => {
      try {
        await db.command({ ping: 1 }, { timeoutMS: 1000 });
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** Hides credentials in a connection string before it reaches a log or an error. */
export function redactUri(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, "//***@");
}

/** True for driver errors that mean "try again later" rather than "this input is wrong". */
export function isTransientDbError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const name = error.name;
  return (
    name === "MongoNetworkError" ||
    name === "MongoServerSelectionError" ||
    name === "MongoNetworkTimeoutError" ||
    name === "MongoTopologyClosedError" ||
    name === "MongoNotConnectedError" ||
    name === "MongoOperationTimeoutError" ||
    (error as { hasErrorLabel?: (label: string) => boolean }).hasErrorLabel?.("RetryableWriteError") === true
  );
}
