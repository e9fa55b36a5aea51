import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shared, uniqueName } from "../../test/harness.ts";
import { countWriteStatements } from "./database-writes.ts";
import { MetricsRegistry } from "./metrics.ts";

describe("the write-statement counter", () => {
  let client: MongoClient;
  const metrics = new MetricsRegistry();
  beforeAll(async () => {
    client = await new MongoClient(shared.mongoUri, { monitorCommands: true }).connect();
    countWriteStatements(client, metrics);
  });
  afterAll(async () => client?.close());

  /** The counter's values as "collection command" -> statements. */
  const counted = async () => {
    const metric = metrics.registry.getSingleMetric("ngsreach_database_write_statements_total")!;
    const { values } = await metric.get();
    return Object.fromEntries(values.map(({ labels, value }) => [`${labels.collection} ${labels.command}`, value]));
  };

  it("counts one statement per document each write may touch, by collection and command, and no reads", async () => {
    const database = client.db(uniqueName("writes"));
    const things = database.collection<{ _id: string; n: number }>("things");
    await things.insertMany([{ _id: "a", n: 0 }, { _id: "b", n: 0 }, { _id: "c", n: 0 }]);
    await things.bulkWrite([
      { updateOne: { filter: { _id: "a" }, update: { $inc: { n: 1 } } } },
      { updateOne: { filter: { _id: "b" }, update: { $inc: { n: 1 } } } },
      { insertOne: { document: { _id: "d", n: 0 } } },
    ]);
    await things.findOneAndUpdate({ _id: "c" }, { $set: { n: 5 } });
    await things.deleteMany({ n: 0 });
    await things.find({}).toArray();
    await database.collection("others").updateOne({ _id: "x" as never }, { $set: { n: 1 } }, { upsert: true });
    expect(await counted()).toEqual({ "things insert": 4, "things update": 2, "things findAndModify": 1, "things delete": 1, "others update": 1 });
  });
});
