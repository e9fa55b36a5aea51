/**
 * One client process of the FerretDB race tests (scripts/ferretdb-patches.test.ts). Two of them race on
 * the same documents, as two instances of a service would: each connects, opens one connection per racer,
 * prints "ready", starts on a line on stdin, and prints what it saw as one line of JSON (RaceResult).
 *
 *   node test/support/ferret-racer.ts <mongodb-uri> <database> <race> <racers> <count>
 *
 * Races, on collection `race`:
 * - inc: `count` concurrent `$inc` of document "doc".
 * - version, findAndModify: `racers` loops move document "doc" from v to v+1 with a guard on v
 *   (updateOne / findOneAndUpdate), until v = `count`; wins lists each v this process moved on.
 * - upsert: `count` concurrent upserts `$inc` of document "fresh", which does not exist yet.
 * - deleteOne: `count` concurrent deleteOne({tag: "t"}); wins holds each call's deletedCount.
 */
import { createInterface } from "node:readline";
import { MongoClient } from "mongodb";

/** What one racer process saw. */
export interface RaceResult {
  wins: number[];
  errors: string[];
}

const [uri, database, race, racers, count] = process.argv.slice(2);
const n = Number(count);
const client = await new MongoClient(uri!, { maxPoolSize: Math.max(Number(racers), n) + 2, retryWrites: false }).connect();
const docs = client.db(database).collection<{ _id: string; v?: number; n?: number; tag?: string }>("race");
const result: RaceResult = { wins: [], errors: [] };
const failed = (error: unknown) => void result.errors.push(String((error as Error).message ?? error));

// Open the connections now, so the race starts on all of them at once rather than on connection set-up.
await Promise.all(Array.from({ length: Math.max(Number(racers), n) }, () => client.db(database).command({ ping: 1 })));
console.log("ready");
await new Promise((resolve) => createInterface({ input: process.stdin }).once("line", resolve));

const guarded = async (): Promise<void> => {
  let v = 0;
  while (v < n) {
    const won =
      race === "version"
        ? (await docs.updateOne({ _id: "doc", v }, { $set: { v: v + 1 } })).modifiedCount === 1
        : (await docs.findOneAndUpdate({ _id: "doc", v }, { $set: { v: v + 1 } })) !== null;
    if (won) result.wins.push(v++);
    else v = (await docs.findOne({ _id: "doc" }))?.v ?? n;
  }
};

const many = (run: () => Promise<number>) =>
  Promise.all(Array.from({ length: n }, () => run().then((won) => void result.wins.push(won), failed)));

switch (race) {
  case "inc":
    await many(async () => (await docs.updateOne({ _id: "doc" }, { $inc: { n: 1 } })).modifiedCount);
    break;
  case "version":
  case "findAndModify":
    await Promise.all(Array.from({ length: Number(racers) }, () => guarded().catch(failed)));
    break;
  case "upsert":
    await many(async () => {
      const r = await docs.updateOne({ _id: "fresh" }, { $inc: { n: 1 } }, { upsert: true });
      return r.modifiedCount + r.upsertedCount;
    });
    break;
  case "deleteOne":
    await many(async () => (await docs.deleteOne({ tag: "t" })).deletedCount);
    break;
  default:
    failed(new Error(`unknown race ${race}`));
}
console.log(JSON.stringify(result));
await client.close();
