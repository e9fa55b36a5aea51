/**
 * What the per-document locks of the local FerretDB build cost (scripts/build-tools.ts, patch 4), and what
 * the `_id` pushdown of guarded filters buys (patch 5). Two private FerretDBs in the same run, document
 * locks on and off (`-document-locks=false`: FerretDB as published, which loses updates), take the same
 * single-document `updateOne`s from 16 concurrent writers: each on its own document, all on one document,
 * and each on its own document addressed without `_id` (which takes the collection's lock exclusively).
 * Rounds alternate between the servers; the median of the rounds is reported. Then guarded updates
 * (`{_id, v}`) one at a time, among 10 and among 100,000 documents, beside plain `{_id}` updates.
 *
 *   node bench/ferretdb/document-locks.ts [updates per writer=200] [rounds=3]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient, type Collection } from "mongodb";
import { freePort, startFerretDb, type LocalServer } from "../../tools/local-servers.ts";
import { machine, table, writeResult } from "../lib/report.ts";

type Doc = { _id: string; n: number; slot?: number; v?: number };

const perWriter = Math.max(10, Number(process.argv[2] ?? 200));
const rounds = Math.max(1, Number(process.argv[3] ?? 3));
const writers = 16;
const loadBefore = loadavg();

const dirs: string[] = [];
const servers: LocalServer[] = [];
const clients: MongoClient[] = [];
async function start(documentLocks: boolean): Promise<MongoClient> {
  const dataDir = mkdtempSync(join(tmpdir(), "ngsreach-bench-locks-"));
  dirs.push(dataDir);
  const server = await startFerretDb({ port: await freePort(), dataDir, documentLocks });
  servers.push(server);
  const client = await new MongoClient(server.url, { maxPoolSize: writers + 4, retryWrites: false }).connect();
  clients.push(client);
  return client;
}

/** 16 writers × perWriter sequential updates; updates per second, and how many of them the document kept. */
async function throughput(docs: Collection<Doc>, update: (writer: number) => Promise<unknown>, kept: () => Promise<number>) {
  const started = performance.now();
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    for (let i = 0; i < perWriter; i++) await update(w);
  }));
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: (writers * perWriter) / seconds, kept: (await kept()) / (writers * perWriter) };
}

const modes = {
  "16 writers, own document each, {_id}": async (docs: Collection<Doc>) => {
    await docs.insertMany(Array.from({ length: writers }, (_, w) => ({ _id: `w${w}`, n: 0, slot: w })));
    const kept = async () => (await docs.find({ slot: { $gte: 0 } }).toArray()).reduce((sum, d) => sum + d.n, 0);
    return await throughput(docs, (w) => docs.updateOne({ _id: `w${w}` }, { $inc: { n: 1 } }), kept);
  },
  "16 writers, one document, {_id}": async (docs: Collection<Doc>) => {
    await docs.insertOne({ _id: "hot", n: 0 });
    return await throughput(docs, () => docs.updateOne({ _id: "hot" }, { $inc: { n: 1 } }), async () => (await docs.findOne({ _id: "hot" }))!.n);
  },
  "16 writers, own document each, {slot} (no _id)": async (docs: Collection<Doc>) => {
    await docs.insertMany(Array.from({ length: writers }, (_, w) => ({ _id: `s${w}`, n: 0, slot: w })));
    const kept = async () => (await docs.find({ slot: { $gte: 0 } }).toArray()).reduce((sum, d) => sum + d.n, 0);
    return await throughput(docs, (w) => docs.updateOne({ slot: w }, { $inc: { n: 1 } }), kept);
  },
};

/** Mean latency of sequential updates by each filter, taken in turns (the machine's load moves), after a warm-up. */
async function latencies(docs: Collection<Doc>, count: number, filters: ((i: number) => object)[]): Promise<number[]> {
  const totals = filters.map(() => 0);
  for (let i = -20; i < count; i++) {
    for (const [f, filter] of filters.entries()) {
      const started = performance.now();
      await docs.updateOne(filter(i + 20), { $inc: { n: 1 } });
      if (i >= 0) totals[f]! += performance.now() - started;
    }
  }
  return totals.map((total) => total / count);
}

try {
  const on = await start(true);
  const off = await start(false);
  const samples: Record<string, { on: { perSecond: number; kept: number }[]; off: { perSecond: number; kept: number }[] }> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [mode, run] of Object.entries(modes)) {
      samples[mode] ??= { on: [], off: [] };
      // Alternate which server goes first, so neither always runs on the cooler machine.
      const order = round % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const);
      for (const locks of order) {
        const client = locks === "on" ? on : off;
        samples[mode][locks].push(await run(client.db(`r${round}`).collection<Doc>(mode.replace(/\W+/g, "_"))));
      }
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const throughputRows = Object.entries(samples).map(([mode, { on: locked, off: unlocked }]) => {
    const lockedPerSecond = median(locked.map((s) => s.perSecond));
    const unlockedPerSecond = median(unlocked.map((s) => s.perSecond));
    return {
      mode,
      "locks on, updates/s": lockedPerSecond,
      "locks off, updates/s": unlockedPerSecond,
      "on / off": lockedPerSecond / unlockedPerSecond,
      "kept, on": `${(100 * Math.min(...locked.map((s) => s.kept))).toFixed(0)} %`,
      "kept, off": `${(100 * Math.min(...unlocked.map((s) => s.kept))).toFixed(0)} %`,
    };
  });
  console.log(`FerretDB v1 (SQLite), ${writers} writers × ${perWriter} updateOne $inc, median of ${rounds} rounds; kept = worst round's share of updates the documents show:`);
  console.log(table(throughputRows));

  const scale = on.db("scale");
  const small = scale.collection<Doc>("small");
  const big = scale.collection<Doc>("big");
  await small.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: `k${i}`, n: 0, v: 0 })));
  for (let i = 0; i < 100_000; i += 10_000) {
    await big.insertMany(Array.from({ length: 10_000 }, (_, j) => ({ _id: `k${i + j}`, n: 0, v: 0 })), { ordered: false });
  }
  const [smallGuarded, smallPlain] = await latencies(small, 500, [(i) => ({ _id: `k${i % 10}`, v: 0 }), (i) => ({ _id: `k${(i + 5) % 10}` })]);
  const [bigGuarded, bigPlain] = await latencies(big, 500, [(i) => ({ _id: `k${(i * 199) % 100_000}`, v: 0 }), (i) => ({ _id: `k${(i * 199 + 1) % 100_000}` })]);
  const latencyRows = [
    { filter: "{_id, v} (guarded)", "10 docs, ms": smallGuarded!, "100,000 docs, ms": bigGuarded! },
    { filter: "{_id}", "10 docs, ms": smallPlain!, "100,000 docs, ms": bigPlain! },
  ];
  console.log("\nsequential updateOne $inc, locks on, mean latency:");
  console.log(table(latencyRows));
  const loadAfter = loadavg();
  console.log(`\nload average before ${loadBefore.map((l) => l.toFixed(2)).join(" ")}, after ${loadAfter.map((l) => l.toFixed(2)).join(" ")}`);
  writeResult("ferretdb-document-locks", { machine: machine(), perWriter, rounds, loadBefore, loadAfter, throughput: throughputRows, latency: latencyRows });
} finally {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(servers.map((server) => server.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
