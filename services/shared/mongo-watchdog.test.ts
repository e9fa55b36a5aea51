import { MongoClient } from "mongodb";
import { afterEach, describe, expect, it } from "vitest";
import { privateFerretDb, shared, uniqueName, waitFor } from "../../test/harness.ts";
import { createLogger } from "./log.ts";
import { watchMongoMonitor, type MongoWatchdog } from "./mongo-watchdog.ts";

describe("the database monitor watchdog", () => {
  let client: MongoClient | undefined;
  let watchdog: MongoWatchdog | undefined;
  afterEach(async () => {
    watchdog?.stop();
    await client?.close();
  });

  const connect = async () => {
    client = new MongoClient(shared.mongoUri, { heartbeatFrequencyMS: 100, serverSelectionTimeoutMS: 3000 });
    await client.connect();
    return client;
  };

  it("leaves a client alone while its heartbeats end", async () => {
    const live = await connect();
    let heartbeats = 0;
    live.on("serverHeartbeatSucceeded", () => heartbeats++);
    watchdog = watchMongoMonitor(live, undefined, { stuckAfterMs: 400, checkEveryMs: 20 });
    await waitFor(() => heartbeats >= 10, { what: "ten heartbeats" });
    expect(watchdog.restarts).toBe(0);
  });

  it("reconnects a client whose heartbeat never ends, and the same Db works after", async () => {
    const live = await connect();
    const lines: string[] = [];
    watchdog = watchMongoMonitor(live, createLogger({}, "info", (line) => lines.push(line)), { stuckAfterMs: 200, checkEveryMs: 20 });
    const things = live.db(uniqueName("test")).collection<{ _id: string; n: number }>("things");
    await things.insertOne({ _id: "a", n: 1 });
    // The driver's event for a heartbeat that then hangs (the wedge seen after a database restart under load).
    live.emit("serverHeartbeatStarted", { connectionId: "127.0.0.1:1", awaited: false } as never);
    await waitFor(() => watchdog!.restarts === 1 && lines.some((line) => line.includes("database client reconnected")), {
      what: "the watchdog to reconnect the client",
    });
    expect(await things.findOne({ _id: "a" })).toEqual({ _id: "a", n: 1 });
    expect(lines.some((line) => line.includes("database monitor stuck"))).toBe(true);
  });

  it("keeps trying to connect when the database is still down at the restart, and serves again once it is up", async () => {
    const ferret = await privateFerretDb();
    client = new MongoClient(ferret.url, { heartbeatFrequencyMS: 100, serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 });
    await client.connect();
    const live = client;
    const lines: string[] = [];
    watchdog = watchMongoMonitor(live, createLogger({}, "info", (line) => lines.push(line)), { stuckAfterMs: 200, checkEveryMs: 50 });
    const things = live.db(uniqueName("test")).collection<{ _id: string }>("things");
    await things.insertOne({ _id: "kept" });
    await ferret.stop();
    live.emit("serverHeartbeatStarted", { connectionId: "127.0.0.1:1", awaited: false } as never);
    await waitFor(() => lines.some((line) => line.includes("reconnect failed, will retry")), { what: "a failed reconnect" });
    await ferret.restart();
    await waitFor(async () => (await things.findOne({ _id: "kept" }))?._id === "kept", { what: "reads through the reconnected client" });
    expect(watchdog.restarts).toBe(1);
  });
});
