/**
 * The database's own ceiling, beside which the e2e figures stand: bulkWrite
 * of updateOne upserts by `_id` (new ids, ~0.6 KB documents), batches of
 * BENCH_E2E_BATCH, one in flight, into a separate database on the same
 * FerretDB (whatever its backend), while the services sit idle. The database
 * CPU it takes (FerretDB, plus PostgreSQL's processes) is measured the same
 * way as in phase 1, so CPU per upsert and CPU per applied event compare.
 */
import { randomUUID } from "node:crypto";
import { MongoClient, type AnyBulkWriteOperation } from "mongodb";
import { settings } from "./settings.ts";
import type { Meters } from "./sustained.ts";

/** A send-sized document addressed by a composed string `_id`, as the services store them. */
interface CeilingDoc {
  _id: string;
  campaignId: string;
  status: string;
  to: string;
  subject: string;
  tags: Record<string, string>;
  updatedAtMs: number;
  v: number;
  applied: string[];
}

export async function bulkCeiling(url: string, databaseMeters: Meters) {
  const { batchSize, ceilingSeconds, campaigns, workspaceId } = settings;
  const client = new MongoClient(url, { directConnection: true });
  await client.connect();
  try {
    const collection = client.db("ngsreach_bench_ceiling").collection<CeilingDoc>("upserts");
    const ops = (start: number): AnyBulkWriteOperation<CeilingDoc>[] =>
      Array.from({ length: batchSize }, (_, i) => ({
        updateOne: {
          filter: { _id: `${workspaceId}:${randomUUID()}:${start + i}` },
          update: {
            $set: { campaignId: `cmp_${(start + i) % campaigns}`, status: "delivered", to: `subscriber.${start + i}@customer.example.com`, subject: "Your November product update: faster dashboards, new integrations and a sneak peek", tags: { campaign_id: "c", list_id: "l", ab_variant: "a", template_version: "newsletter-2026-11-v14" }, updatedAtMs: Date.now() },
            $inc: { v: 1 },
            $push: { applied: `msg_${start + i}` },
          },
          upsert: true,
        },
      }));
    await collection.bulkWrite(ops(-batchSize), { ordered: false }); // warm-up
    const cpu0 = Object.fromEntries(Object.entries(databaseMeters).map(([name, read]) => [name, read()]));
    const started = performance.now();
    let done = 0, batches = 0;
    while (performance.now() - started < ceilingSeconds * 1000 && batches < 1000) {
      const result = await collection.bulkWrite(ops(done), { ordered: false });
      done += result.upsertedCount + result.modifiedCount;
      batches++;
    }
    const seconds = (performance.now() - started) / 1000;
    const used = Object.fromEntries(Object.entries(databaseMeters).map(([name, read]) => [name, read() - cpu0[name]!]));
    const databaseSeconds = Object.values(used).reduce((sum, s) => sum + s, 0);
    return {
      upserts: done,
      batches,
      batchSize,
      seconds,
      upsertsPerSecond: done / seconds,
      /** Cores by database process; `ferretCores` kept under its old name for older results. */
      cores: Object.fromEntries(Object.entries(used).map(([name, s]) => [name, s / seconds])),
      ferretCores: (used.ferretdb ?? Number.NaN) / seconds,
      databaseCores: Object.keys(used).length > 0 ? databaseSeconds / seconds : Number.NaN,
      databaseCpuMsPerUpsert: Object.keys(used).length > 0 ? (databaseSeconds * 1000) / Math.max(1, done) : Number.NaN,
    };
  } finally {
    await client.close();
  }
}
