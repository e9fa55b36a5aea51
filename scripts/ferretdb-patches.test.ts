/**
 * The FerretDB patches of build-tools.ts, checked against the FerretDB the tests run on (built by it).
 * The races run in two client processes (test/support/ferret-racer.ts), as two service instances would;
 * the same races against a FerretDB with its document locks off show that their checks can fail.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { MongoClient, type Collection } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../tools/local-servers.ts";
import type { RaceResult } from "../test/support/ferret-racer.ts";
import { privateFerretDb, shared, uniqueName, waitFor } from "../test/harness.ts";

type Doc = { _id: string; v?: number; n?: number; tag?: string };

interface Race {
  /** What the patched database does, as the test's name. */
  should: string;
  kind: string;
  racers: number;
  count: number;
  setup(race: Collection<Doc>): Promise<void>;
  /** What went wrong, from what both processes saw and the documents afterwards; empty when exact. */
  faults(seen: RaceResult[], race: Collection<Doc>): Promise<string[]>;
}

const errorsOf = (seen: RaceResult[]) => seen.flatMap((s) => s.errors).slice(0, 3);

const guardedRace = (kind: string, call: string, rounds: number): Race => ({
  should: `lets exactly one of two processes' ${call}({_id, v: n}, {$set: {v: n + 1}}) win each of ${rounds} versions`,
  kind,
  racers: 4,
  count: rounds,
  setup: async (race) => void (await race.insertOne({ _id: "doc", v: 0 })),
  faults: async (seen, race) => {
    const wins = seen.flatMap((s) => s.wins).sort((a, b) => a - b);
    const twice = wins.filter((v, i) => wins[i + 1] === v);
    const v = (await race.findOne({ _id: "doc" }))?.v;
    return [
      ...errorsOf(seen),
      ...(twice.length > 0 ? [`${twice.length} versions had two winners (first: v ${twice[0]})`] : []),
      ...(wins.length !== rounds || v !== rounds ? [`${wins.length} wins, v ended at ${v}, for ${rounds} versions`] : []),
    ];
  },
});

const races: Race[] = [
  {
    should: "ends 50 concurrent $inc of one document from two client processes at exactly 50",
    kind: "inc",
    racers: 25,
    count: 25,
    setup: async (race) => void (await race.insertOne({ _id: "doc", n: 0 })),
    faults: async (seen, race) => {
      const n = (await race.findOne({ _id: "doc" }))?.n;
      return [...errorsOf(seen), ...(n !== 50 ? [`n ended at ${n}, not 50`] : [])];
    },
  },
  guardedRace("version", "updateOne", 100),
  guardedRace("findAndModify", "findOneAndUpdate", 100),
  {
    should: "applies all of 80 concurrent upserts ($inc) of a new document from two processes, none failing",
    kind: "upsert",
    racers: 40,
    count: 40,
    setup: async (race) => void (await race.insertOne({ _id: "other" })),
    faults: async (seen, race) => {
      const n = (await race.findOne({ _id: "fresh" }))?.n;
      return [...errorsOf(seen), ...(n !== 80 ? [`n ended at ${n}, not 80`] : [])];
    },
  },
  {
    should: "deletes a different document for each of 80 concurrent deleteOne({tag}) from two processes",
    kind: "deleteOne",
    racers: 40,
    count: 40,
    setup: async (race) => void (await race.insertMany(Array.from({ length: 90 }, (_, i) => ({ _id: `t${i}`, tag: "t" })))),
    faults: async (seen, race) => {
      const deleted = seen.flatMap((s) => s.wins).reduce((a, b) => a + b, 0);
      const left = await race.countDocuments({ tag: "t" });
      return [...errorsOf(seen), ...(deleted !== 80 || left !== 10 ? [`${deleted} deleted, ${left} of 90 left`] : [])];
    },
  },
];

const racerScript = join(repoRoot, "test", "support", "ferret-racer.ts");

/** Runs one race in two racer processes against the server at uri; returns its faults. */
async function runRace(client: MongoClient, uri: string, race: Race): Promise<string[]> {
  const database = uniqueName("race");
  const collection = client.db(database).collection<Doc>("race");
  await race.setup(collection);
  const racers = [0, 1].map(() => {
    const args = [racerScript, uri, database, race.kind, String(race.racers), String(race.count)];
    const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"] });
    const lines: string[] = [];
    let stderr = "";
    createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    return { child, lines, closed, stderr: () => stderr };
  });
  try {
    const gone = await waitFor(() => (racers.every((r) => r.lines[0] === "ready") ? "ready" : racers.find((r) => r.child.exitCode !== null)), {
      what: "both racer processes to connect",
    });
    if (gone !== "ready") throw new Error(`a racer exited early: ${gone.stderr()}`);
    for (const racer of racers) racer.child.stdin.end("go\n");
    await Promise.all(racers.map((r) => r.closed));
    const seen = racers.map((r) => {
      if (r.child.exitCode !== 0) throw new Error(`a racer failed (${r.child.exitCode}): ${r.stderr()}`);
      return JSON.parse(r.lines.at(-1)!) as RaceResult;
    });
    return await race.faults(seen, collection);
  } finally {
    for (const racer of racers) if (racer.child.exitCode === null) racer.child.kill("SIGKILL");
  }
}

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

  for (const race of races) {
    it(race.should, async () => {
      expect(await runRace(client, shared.mongoUri, race)).toEqual([]);
    });
  }

  it("looks a filter with an _id equality up by the _id index whatever else it holds, among 10 or 100,000 documents", async () => {
    const server = await privateFerretDb();
    const own = await new MongoClient(server.url).connect();
    try {
      const db = own.db("scale");
      const small = db.collection<Doc>("small");
      const big = db.collection<Doc>("big");
      await small.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: `k${i}`, v: 0 })));
      for (let i = 0; i < 100_000; i += 10_000) {
        await big.insertMany(Array.from({ length: 10_000 }, (_, j) => ({ _id: `k${i + j}`, v: 0 })), { ordered: false });
      }

      // Deterministic: the plan FerretDB hands SQLite. Unpatched it reports no pushdown and a SCAN of the table.
      for (const filter of [{ _id: "k77", v: 0, tag: { $ne: "x" } }, { _id: { $eq: "k77" }, v: 0 }]) {
        const explain = await db.command({ explain: { find: "big", filter } });
        const plan = (explain.queryPlanner as { Plan: string[] }).Plan.join("\n");
        expect(explain.filterPushdown, plan).toBe(true);
        expect(plan).toMatch(/SEARCH .* USING INDEX/);
        expect(await big.find(filter).toArray()).toEqual([{ _id: "k77", v: 0 }]);
      }

      // 200 guarded updates among 10 documents (v climbs on each) and among 100,000 (one each); unpatched the
      // latter decode the whole table per update, ~1000 times the former.
      const guarded = async (collection: Collection<Doc>, id: (i: number) => string, v: (i: number) => number) => {
        const started = performance.now();
        let matched = 0;
        for (let i = 0; i < 200; i++) matched += (await collection.updateOne({ _id: id(i), v: v(i) }, { $set: { v: v(i) + 1 } })).matchedCount;
        expect(matched).toBe(200);
        return performance.now() - started;
      };
      await guarded(big, (i) => `k${50_000 + i}`, () => 0); // warm-up, on other documents
      const tenMs = await guarded(small, (i) => `k${i % 10}`, (i) => Math.floor(i / 10));
      const bigMs = await guarded(big, (i) => `k${i * 499}`, () => 0);
      console.log(`200 guarded updateOne: ${tenMs.toFixed(0)} ms among 10 documents, ${bigMs.toFixed(0)} ms among 100,000`);
      expect(bigMs).toBeLessThan(5 * tenMs);
    } finally {
      await own.close();
    }
  });
});

describe("the local FerretDB with its document locks off (FerretDB v1 as published)", () => {
  it("loses updates, lets two guarded writers win one version and two deleteOne take one document: each race check above bites", async () => {
    const server = await privateFerretDb({ documentLocks: false });
    const client = await new MongoClient(server.url).connect();
    try {
      const faults: Record<string, string[]> = {};
      for (const race of races) faults[race.kind] = await runRace(client, server.url, race);
      console.log("with document locks off:", JSON.stringify(faults));
      for (const race of races) expect(faults[race.kind], race.kind).not.toEqual([]);
    } finally {
      await client.close();
    }
  });
});
