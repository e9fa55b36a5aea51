import { afterAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../test/harness.ts";
import { connectMongo, redactUri, type MongoHandles } from "./mongo.ts";

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
