/**
 * The FerretDB patches of build-tools.ts, checked against the FerretDB the tests run on (built by it).
 */
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../test/harness.ts";

describe("the patched local FerretDB", () => {
  let client: MongoClient;
  beforeAll(async () => {
    client = await new MongoClient(shared.mongoUri, { socketTimeoutMS: 20_000 }).connect();
  });
  afterAll(async () => client?.close());

  it("answers a bulk update of more statements than its SQLite pool has connections (100), and others meanwhile", async () => {
    const things = client.db(uniqueName("patch")).collection<{ _id: string; n: number }>("things");
    await things.insertMany(Array.from({ length: 150 }, (_, i) => ({ _id: `k${i}`, n: 0 })));
    const updates = (round: number) => Array.from({ length: 150 }, (_, i) => ({ updateOne: { filter: { _id: `k${i}` }, update: { $set: { n: round } } } }));
    // Unpatched, the command held one connection per statement until it returned and the server hung at the
    // 101st: this bulk write and every later command timed out.
    const [first, second] = await Promise.all([things.bulkWrite(updates(1), { ordered: false }), things.bulkWrite(updates(2), { ordered: false })]);
    expect(first.matchedCount + second.matchedCount).toBe(300);
    expect(await things.countDocuments({ n: { $gt: 0 } })).toBe(150);
  });
});
