import { MongoClient, type IndexDescription } from "mongodb";
import { afterAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../test/harness.ts";
import { connectMongo, ensureIndexes, redactUri, type MongoHandles } from "./mongo.ts";

describe("the MongoDB-wire connection", () => {
  let mongo: MongoHandles | undefined;
  afterAll(async () => mongo?.close());

  it("writes and reads a document through FerretDB", async () => {
    mongo = await connectMongo(shared.mongoUri, uniqueName("test"), "mongo-test");
    const things = mongo.db.collection<{ _id: string; count: number }>("things");
    await things.updateOne({ _id: "ws1:a" }, { $inc: { count: 1 } }, { upsert: true });
    await things.updateOne({ _id: "ws1:a" }, { $inc: { count: 2 } }, { upsert: true });
    expect(await things.findOne({ _id: "ws1:a" })).toEqual({ _id: "ws1:a", count: 3 });
    expect(await mongo.ping()).toBe(true);
  });

  it("fails start-up with a message naming MONGODB_URI and hiding credentials", async () => {
    const attempt = connectMongo("mongodb://user:pw@127.0.0.1:1/?serverSelectionTimeoutMS=300", "x", "mongo-test");
    await expect(attempt).rejects.toThrow(/MONGODB_URI/);
    await expect(attempt).rejects.not.toThrow(/pw/);
    expect(redactUri("mongodb://user:pw@host/")).toBe("mongodb://***@host/");
  });
});

describe("ensureIndexes", () => {
  const indexes: IndexDescription[] = [
    { key: { workspaceId: 1, campaignId: 1, status: 1 }, name: "by_status" },
    { key: { workspaceId: 1, subscriberId: 1 }, name: "by_subscriber", sparse: true },
    { key: { workspaceId: 1, at: -1 } }, // unnamed: the driver's default name
  ];

  it("lets four instances create the same indexes at once on a fresh database, each one once", async () => {
    // One client each, as separate processes have: FerretDB v1 dropped their connections when they raced.
    const clients = await Promise.all([1, 2, 3, 4].map(() => new MongoClient(shared.mongoUri, { retryWrites: false }).connect()));
    try {
      for (const round of [1, 2, 3]) {
        const database = uniqueName(`indexes${round}`);
        const results = await Promise.allSettled(clients.map((client) => ensureIndexes(client.db(database).collection("things"), indexes)));
        expect(results.map((result) => (result.status === "fulfilled" ? "ok" : String(result.reason)))).toEqual(["ok", "ok", "ok", "ok"]);
        const names = (await clients[0]!.db(database).collection("things").listIndexes().toArray()).map((index) => index.name).sort();
        expect(names).toEqual(["_id_", "by_status", "by_subscriber", "workspaceId_1_at_-1"]);
      }
      // Restarting instances find them all and create nothing.
      const database = uniqueName("indexes_again");
      await ensureIndexes(clients[0]!.db(database).collection("things"), indexes);
      await Promise.all(clients.map((client) => ensureIndexes(client.db(database).collection("things"), indexes)));
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });

  it("fails with a message naming the index and collection when it cannot be created", async () => {
    const client = await new MongoClient(shared.mongoUri, { retryWrites: false }).connect();
    try {
      const things = client.db(uniqueName("indexes_bad")).collection("things");
      await ensureIndexes(things, [{ key: { a: 1 }, name: "by_a" }]);
      const bad = ensureIndexes(things, [{ key: { b: "no-such-index-type" as never }, name: "bad" }], 2);
      await expect(bad).rejects.toThrow(/^cannot create index bad on things \(\d attempts?\): /);
    } finally {
      await client.close();
    }
  });
});
