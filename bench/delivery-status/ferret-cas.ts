/** Probes FerretDB v1's behaviour under concurrent conditional updates and the cost of filters. */
import { MongoClient } from "mongodb";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startFerretDb } from "../../tools/local-servers.ts";

const server = await startFerretDb({ port: await freePort(), dataDir: mkdtempSync(join(tmpdir(), "bench-ferret-")) });
const client = await new MongoClient(server.url).connect();
const c = client.db("bench").collection<any>("cas");
try {
  await c.insertOne({ _id: "a", version: 1, n: 0 });
  // 20 writers all believing version 1 is current: a real CAS lets exactly one through.
  const winners: number[] = [];
  for (let trial = 0; trial < 10; trial++) {
    await c.updateOne({ _id: "a" }, { $set: { version: 1 } });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => c.updateOne({ _id: "a", version: 1 }, { $set: { version: 2, by: i } })));
    winners.push(results.filter((r) => r.matchedCount === 1).length);
  }
  console.log("CAS updateOne {_id, version}: winners per trial of 20 racers (1 = correct):", winners.join(" "));
  await Promise.all(Array.from({ length: 50 }, () => c.updateOne({ _id: "a" }, { $inc: { n: 1 } })));
  console.log("$inc x50 ->", (await c.findOne({ _id: "a" }))?.n);
  await c.insertOne({ _id: "b", version: 1, list: [] });
  const fam = await Promise.all(Array.from({ length: 20 }, (_, i) => c.findOneAndUpdate({ _id: "b", version: 1 }, { $set: { version: 2, by: i } })));
  console.log("findOneAndUpdate {_id, version} winners:", fam.filter((r) => r !== null).length);
  await Promise.all(Array.from({ length: 30 }, (_, i) => c.updateOne({ _id: "b" }, { $addToSet: { list: `x${i}` } })));
  console.log("$addToSet x30 ->", (await c.findOne({ _id: "b" }))?.list.length);

  for (const size of [1000, 5000]) {
    const big = client.db("bench").collection<any>(`scan_${size}`);
    await big.insertMany(Array.from({ length: size }, (_, i) => ({ _id: `k${i}`, version: 1, pad: "x".repeat(2000) })));
    for (let i = 0; i < 50; i++) await big.findOne({ _id: `k${i}` }); // warm-up
    let start = performance.now();
    for (let i = 0; i < 50; i++) await big.updateOne({ _id: `k${i}` }, { $set: { v: i } });
    const byId = (performance.now() - start) / 50;
    start = performance.now();
    for (let i = 0; i < 50; i++) await big.insertOne({ _id: `new${i}`, pad: "x" });
    const insert = (performance.now() - start) / 50;
    start = performance.now();
    for (let i = 0; i < 50; i++) await big.updateOne({ _id: `up${i}` }, { $setOnInsert: { pad: "x" } }, { upsert: true });
    const upsert = (performance.now() - start) / 50;
    console.log(`${size} docs: insertOne ${insert.toFixed(2)} ms, upsert {_id} ${upsert.toFixed(2)} ms`);
    start = performance.now();
    for (let i = 0; i < 50; i++) await big.updateOne({ _id: `k${i}`, version: 1 }, { $set: { version: 1 } });
    const byIdVersion = (performance.now() - start) / 50;
    start = performance.now();
    for (let i = 0; i < 50; i++) await big.findOne({ _id: `k${i}` });
    const find = (performance.now() - start) / 50;
    console.log(`${size} docs x 2 KB: updateOne {_id} ${byId.toFixed(2)} ms, {_id, version} ${byIdVersion.toFixed(2)} ms, findOne {_id} ${find.toFixed(2)} ms`);
  }
} finally {
  await client.close();
  await server.stop();
}
