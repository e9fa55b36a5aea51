/**
 * What a single-document write costs on the local FerretDB, by how it is sent — the numbers behind the
 * consumers' design notes (README "Performance"): sequential `updateOne`s (latency-bound), 16 in flight
 * (what the consumer loop does), and `bulkWrite`s of 16 (what a batching consumer would do), beside
 * sequential `findOne`s. A private FerretDB on a free port and temp dir; bounded by the document count.
 *
 *   node bench/ferretdb/write-modes.ts [documents=2000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import { freePort, startFerretDb } from "../../tools/local-servers.ts";

const count = Math.max(16, Math.min(100_000, Number(process.argv[2] ?? 2000)));
const dir = mkdtempSync(join(tmpdir(), "ngsreach-bench-ferret-"));
const ferret = await startFerretDb({ port: await freePort(), dataDir: dir });
const client = new MongoClient(ferret.url, { retryWrites: false });
try {
  await client.connect();
  const docs = client.db("bench").collection<{ _id: string; v: number; state: unknown }>("docs");
  await docs.insertMany(Array.from({ length: count }, (_, i) => ({ _id: `k${i}`, v: 0, state: { a: 1, b: [1, 2, 3] } })));
  const key = (i: number) => `k${i}`;
  const timed = async (run: () => Promise<unknown>) => {
    const started = performance.now();
    await run();
    return (performance.now() - started) / count;
  };
  const results = {
    "updateOne, one at a time": await timed(async () => {
      for (let i = 0; i < count; i++) await docs.updateOne({ _id: key(i) }, { $set: { v: 1, state: { a: 2 } } });
    }),
    "updateOne, 16 in flight": await timed(() =>
      Promise.all(
        Array.from({ length: 16 }, async (_, worker) => {
          for (let i = worker; i < count; i += 16) await docs.updateOne({ _id: key(i) }, { $set: { v: 2 } });
        }),
      ),
    ),
    "bulkWrite of 16 updateOne": await timed(async () => {
      for (let i = 0; i < count; i += 16) {
        const ops = Array.from({ length: Math.min(16, count - i) }, (_, j) => ({
          updateOne: { filter: { _id: key(i + j) }, update: { $set: { v: 3, state: { a: 3 } } } },
        }));
        await docs.bulkWrite(ops, { ordered: false });
      }
    }),
    "findOne, one at a time": await timed(async () => {
      for (let i = 0; i < count; i++) await docs.findOne({ _id: key(i) });
    }),
  };
  const base = results["updateOne, 16 in flight"];
  console.log(`FerretDB v1 (SQLite) single-document writes, ${count} documents, ms per document:`);
  for (const [mode, ms] of Object.entries(results)) console.log(`  ${mode.padEnd(28)} ${ms.toFixed(3)}  (× ${(ms / base).toFixed(2)} of 16 in flight)`);
} finally {
  await client.close();
  await ferret.stop();
  rmSync(dir, { recursive: true, force: true });
}
