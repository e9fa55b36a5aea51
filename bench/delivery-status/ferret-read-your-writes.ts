/** Probes whether FerretDB v1 returns a document's latest committed state to the next read on another pooled connection. */
import { MongoClient } from "mongodb";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startFerretDb } from "../../tools/local-servers.ts";

const server = await startFerretDb({ port: await freePort(), dataDir: mkdtempSync(join(tmpdir(), "bench-ferret-")) });
const client = await new MongoClient(server.url).connect();
const c = client.db("bench").collection<any>("ryw");
try {
  const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
  await c.insertMany(keys.map((k) => ({ _id: k, version: 0, list: [] as number[] })));
  let stale = 0, lostCas = 0;
  // Eight independent sequential writers (one per key), interleaved: like eight sends updated at once.
  await Promise.all(keys.map(async (k) => {
    for (let i = 0; i < 40; i++) {
      const doc = await c.findOne({ _id: k });
      if (doc!.version !== i) stale++;
      const r = await c.updateOne({ _id: k, version: doc!.version }, { $set: { version: doc!.version + 1, list: [...doc!.list, i] } });
      if (r.matchedCount !== 1) lostCas++;
    }
  }));
  const docs = await c.find({}).toArray();
  console.log("stale reads:", stale, "CAS misses:", lostCas, "final list lengths:", docs.map((d) => d.list.length).join(","), "(40 expected)");
} finally {
  await client.close();
  await server.stop();
}
