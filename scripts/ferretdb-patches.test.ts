/**
 * The FerretDB patches of build-tools.ts, checked against the FerretDB the tests run on (built by it).
 * The races run in two client processes (test/support/ferret-racer.ts), as two service instances would;
 * the same races against a FerretDB with its document locks off show that their checks can fail.
 */
import { join } from "node:path";
import { Binary, BSON, BSONRegExp, Double, Int32, Long, MongoClient, ObjectId, Timestamp, type Collection, type Db, type Document, type Filter } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../tools/local-servers.ts";
import type { RaceResult } from "../test/support/ferret-racer.ts";
import { privateFerretDb, shared, uniqueName } from "../test/harness.ts";
import { raceProcesses } from "../test/support/racer-processes.ts";
import { postgresUnavailable, startFerretDbOnOwnPostgres, type FerretDbOnOwnPostgres } from "../test/support/ferretdb-on-postgres.ts";

type Doc = { _id: string; v?: number; n?: number; tag?: string };
type IdDoc = { _id: string | ObjectId; v?: number; w?: number; tag?: string };

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

/**
 * 25 updateMany({_id: {$in: ["a", "b"]}}, {$inc: {n: 1}}) at once with 25 updateOne({_id: "b"}, {$inc: {n: 1}}), on
 * connections of their own (in this process: the statements, not the clients, race); its faults. An `_id` $in may
 * touch several documents: unless it takes its collection's lock (as any filter that pins no one _id), "b" loses $incs.
 */
async function idInRace(uri: string): Promise<string[]> {
  const client = await new MongoClient(uri, { maxPoolSize: 60, retryWrites: false }).connect();
  try {
    const database = client.db(uniqueName("race"));
    const race = database.collection<Doc>("race");
    await race.insertMany([{ _id: "a", n: 0 }, { _id: "b", n: 0 }]);
    await Promise.all(Array.from({ length: 50 }, () => database.command({ ping: 1 })));
    const settled = await Promise.allSettled([
      ...Array.from({ length: 25 }, () => race.updateMany({ _id: { $in: ["a", "b"] } }, { $inc: { n: 1 } })),
      ...Array.from({ length: 25 }, () => race.updateOne({ _id: "b" }, { $inc: { n: 1 } })),
    ]);
    const errors = settled.flatMap((s) => (s.status === "rejected" ? [String((s.reason as Error).message)] : []));
    const [a, b] = [(await race.findOne({ _id: "a" }))?.n, (await race.findOne({ _id: "b" }))?.n];
    return [...errors.slice(0, 3), ...(a !== 25 || b !== 50 ? [`a ended at ${a} (not 25), b at ${b} (not 50)`] : [])];
  } finally {
    await client.close();
  }
}

/** Runs one race in two racer processes against the server at uri; returns its faults. */
async function runRace(client: MongoClient, uri: string, race: Race): Promise<string[]> {
  const database = uniqueName("race");
  const collection = client.db(database).collection<Doc>("race");
  await race.setup(collection);
  const args = [uri, database, race.kind, String(race.racers), String(race.count)];
  const seen = await raceProcesses<RaceResult>(racerScript, [args, args]);
  return await race.faults(seen, collection);
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

  it("ends 25 concurrent updateMany({_id: {$in: [a, b]}}, {$inc}) with 25 updateOne({_id: b}, {$inc}) at exactly 25 and 50", async () => {
    expect(await idInRace(shared.mongoUri)).toEqual([]);
  });

  // Patch 8 decodes values with one json.Unmarshal each (strings without escapes taken as they are) and remembers
  // schemas by their bytes: every type FerretDB v1 stores (it has no nested arrays), strings that need unescaping, nested shapes, documents of
  // one shape with other values (one cached schema) and the same keys with other types (another) come back as stored.
  it("reads back every type and shape it stores, strings with escapes and unicode, one shape with many values, retyped fields", async () => {
    const docs = client.db(uniqueName("patch")).collection("sjson");
    const strings = ["", "plain", '"quoted"', "back\\slash", "line\nbreak\ttab", "\u0001\u001f", "é ü 中文 😀", "</script>&", "a\u2028b"];
    const typed = (i: number): Document => ({
      _id: `t${i}`,
      double: new Double(i + 0.5),
      whole: new Double(i),
      string: strings[i % strings.length],
      int: new Int32(i - 3),
      long: Long.fromString(`900719925474099${i % 10}`),
      bool: i % 2 === 0,
      date: new Date(1_700_000_000_000 + i),
      nothing: null,
      oid: new ObjectId(`65a0000000000000000000${String(i % 100).padStart(2, "0")}`),
      binary: new Binary(Buffer.from([i % 256, 0, 255]), 0),
      uuid: new Binary(Buffer.alloc(16, i % 256), 4),
      regex: new BSONRegExp(`^a${i}.*`, "i"),
      timestamp: new Timestamp({ t: 1_700_000_000 + i, i: 1 }),
      nested: { deeper: { list: [new Int32(1), "two", { three: new Double(3), four: strings[(i + 1) % strings.length] }], empty: {} }, none: [] },
    });
    const retyped = (i: number): Document => ({ _id: `r${i}`, double: strings[i % strings.length], string: new Int32(i), nested: [i] });
    const written = [...Array.from({ length: 60 }, (_, i) => typed(i)), ...Array.from({ length: 10 }, (_, i) => retyped(i))];
    await docs.insertMany(written);
    const canonical = (list: Document[]) => list.map((doc) => BSON.EJSON.stringify(doc, { relaxed: false })).sort();
    const read = await docs.find({}, { promoteValues: false, promoteLongs: false, promoteBuffers: false }).toArray();
    expect(canonical(read)).toEqual(canonical(written));
    // And after an update rewrote them (the same documents, now with another shape each).
    await docs.updateMany({}, { $set: { added: "after" } });
    const updated = await docs.find({}, { promoteValues: false, promoteLongs: false, promoteBuffers: false }).toArray();
    expect(canonical(updated)).toEqual(canonical(written.map((doc) => ({ ...doc, added: "after" }))));
  });
});

/** A read of one _id per element, the _id index's cost: among 10 documents (k0-k9) or 100,000 (k0-k99999). */
describe("the patched local FerretDB's lookups by _id, among 10 or 100,000 documents", () => {
  let own: MongoClient;
  let db: Db;
  let small: Collection<Doc>;
  let big: Collection<Doc>;
  beforeAll(async () => {
    own = await new MongoClient((await privateFerretDb()).url).connect();
    db = own.db("scale");
    small = db.collection<Doc>("small");
    big = db.collection<Doc>("big");
    await small.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: `k${i}`, v: 0 })));
    for (let i = 0; i < 100_000; i += 10_000) {
      await big.insertMany(Array.from({ length: 10_000 }, (_, j) => ({ _id: `k${i + j}`, v: 0 })), { ordered: false });
    }
  });
  afterAll(async () => own?.close());

  /** The plan FerretDB hands SQLite for a find, and whether it says it pushed the filter down. */
  const explainFind = async (filter: Document) => {
    const explain = await db.command({ explain: { find: "big", filter } });
    return { pushdown: explain.filterPushdown as boolean, plan: (explain.queryPlanner as { Plan: string[] }).Plan.join("\n") };
  };

  it("looks a filter with an _id equality up by the _id index whatever else it holds", async () => {
    // Deterministic: the plan FerretDB hands SQLite. Unpatched it reports no pushdown and a SCAN of the table.
    for (const filter of [{ _id: "k77", v: 0, tag: { $ne: "x" } }, { _id: { $eq: "k77" }, v: 0 }]) {
      const { pushdown, plan } = await explainFind(filter);
      expect(pushdown, plan).toBe(true);
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
  });

  // The ids of the next tests: none of them is one the guarded updates above move.
  const twos = ["k7", "k31337"];
  const zeros = ["k1", "k99999"];

  it("finds exactly the documents of {_id: {$in: [...]}} with missing, repeated and ObjectID ids and more conditions, in each command", async () => {
    const docs = db.collection<IdDoc>("big");
    const oids = [new ObjectId(), new ObjectId(), new ObjectId()];
    await docs.insertMany(oids.map((_id, i) => ({ _id, v: i + 1 })));
    expect((await docs.updateMany({ _id: { $in: [...twos, ...zeros] } }, { $set: { v: 0 } })).matchedCount).toBe(4);
    const untagged = { _id: { $in: [...twos, ...zeros, "nope"] }, v: 0, tag: { $exists: false } };
    expect((await docs.updateMany(untagged, { $set: { v: 2 } })).matchedCount).toBe(4);
    expect((await docs.updateMany({ _id: { $in: zeros }, v: 2 }, { $set: { v: 0 } })).modifiedCount).toBe(2);

    const list = ["k7", "nope", zeros[0]!, "k7", oids[0]!, "k31337", new ObjectId(), zeros[1]!, oids[2]!, zeros[1]!, "k1 "];
    const byId = (found: IdDoc[]) => found.map((d) => `${String(d._id)}:${d.v}`).sort();
    const all = ["k1:0", "k31337:2", "k7:2", "k99999:0", `${oids[0]}:1`, `${oids[2]}:3`].sort();
    const overOne = ["k31337:2", "k7:2", `${oids[2]}:3`].sort();
    const filter = { _id: { $in: list } };
    const mixed = { _id: { $in: list }, v: { $gt: 1 } };

    expect(byId(await docs.find(filter).toArray())).toEqual(all);
    expect(byId(await docs.find(mixed).toArray())).toEqual(overOne);
    expect(byId(await docs.find({ v: { $gt: 1 }, _id: { $in: list } }).toArray())).toEqual(overOne);
    expect(byId(await docs.find({ _id: { $in: list }, $or: [{ v: 3 }, { _id: "k7" }] }).toArray())).toEqual([`${oids[2]}:3`, "k7:2"].sort());
    expect(byId(await docs.find({ _id: { $in: list } }).sort({ v: -1, _id: 1 }).limit(2).toArray())).toEqual([`${oids[2]}:3`, "k31337:2"].sort());
    expect(await docs.find({ _id: { $in: [] } }).toArray()).toEqual([]);
    expect(await docs.find({ _id: { $in: ["nope", new ObjectId()] } }).toArray()).toEqual([]);
    // Not pushed down (a number; more than 1,000 ids), still exact: on the small collection, as each reads the whole of it.
    const ids = async (filter: Filter<IdDoc>) => (await small.find(filter as Filter<Doc>).toArray()).map((d) => d._id).sort();
    expect(await ids({ _id: { $in: ["k7", 7 as unknown as string, "k3"] } })).toEqual(["k3", "k7"]);
    expect(await ids({ _id: { $in: [...Array.from({ length: 1_000 }, (_, i) => `m${i}`), "k7"] } })).toEqual(["k7"]);

    // count, aggregate (countDocuments is a $match first stage), distinct, findAndModify, getMore
    expect((await db.command({ count: "big", query: mixed })).n).toBe(3);
    expect(await docs.countDocuments(mixed)).toBe(3);
    expect(byId(await docs.aggregate<IdDoc>([{ $match: mixed }, { $project: { v: 1 } }]).toArray())).toEqual(overOne);
    expect((await docs.distinct("v", filter)).sort()).toEqual([0, 1, 2, 3]);
    expect((await docs.findOneAndUpdate({ _id: { $in: list }, v: 3 }, { $set: { w: 1 } }))?._id).toEqual(oids[2]);
    const many = Array.from({ length: 64 }, (_, j) => `k${10_000 + j * 977}`);
    expect((await docs.find({ _id: { $in: many } }, { batchSize: 10 }).toArray()).length).toBe(64);

    // delete, which leaves the collection as it was
    expect((await docs.deleteMany({ _id: { $in: [...oids, "k2"] }, v: { $gte: 1 } })).deletedCount).toBe(3);
    expect((await docs.updateMany({ _id: { $in: twos } }, { $set: { v: 0 } })).modifiedCount).toBe(2);
    expect(await docs.countDocuments({ _id: { $in: ["k2", ...oids] } })).toBe(1);
    expect(await docs.estimatedDocumentCount()).toBe(100_000);
  });

  it("fetches {_id: {$in: [...]}} of strings and ObjectIDs by the _id index, whatever else the filter holds, and reports the pushdown", async () => {
    // Unpatched: no pushdown, a SCAN of the table.
    const ids = [...twos, "nope", new ObjectId(), "k7"];
    for (const filter of [{ _id: { $in: ids } }, { _id: { $in: ids }, v: { $gt: 1 } }, { v: 0, _id: { $in: ["k3"] } }]) {
      const { pushdown, plan } = await explainFind(filter);
      expect(pushdown, plan).toBe(true);
      expect(plan).toMatch(/SEARCH .* USING INDEX .*_id_/);
      expect(plan).not.toMatch(/SCAN/);
    }
    // Left to the handler as before.
    const tooMany = Array.from({ length: 1_001 }, (_, i) => `k${i}`);
    for (const filter of [{ _id: { $in: ["k7", 7] } }, { _id: { $in: ["k7"], $nin: ["k8"] } }, { _id: { $in: tooMany } }]) {
      expect((await explainFind(filter)).pushdown, JSON.stringify(filter).slice(0, 80)).toBe(false);
    }
  });

  it("finds 64 ids by {_id: {$in}} among 100,000 documents in about the time it takes among 10", async () => {
    const finds = async (collection: Collection<Doc>, ids: (i: number) => string[], found: number, budgetMs = Infinity) => {
      const started = performance.now();
      let i = 0;
      for (; i < 50 && performance.now() - started < budgetMs; i++) {
        expect((await collection.find({ _id: { $in: ids(i) } }).toArray()).length).toBe(found);
      }
      return { ms: performance.now() - started, done: i };
    };
    // Each of 64 ids, 10 of them present (all there are among 10 documents; spread over the 100,000), 54 missing.
    const missing = (i: number) => Array.from({ length: 54 }, (_, j) => `x${i}-${j}`);
    const spread = (i: number) => [...Array.from({ length: 10 }, (_, j) => `k${((i * 10 + j) * 313) % 100_000}`), ...missing(i)];
    await finds(big, (i) => spread(i + 50), 10, 1_000); // warm-up, on other documents
    const ten = await finds(small, (i) => [...Array.from({ length: 10 }, (_, j) => `k${j}`), ...missing(i)], 10);
    // Unpatched each find reads the whole table (~1 s): stop once it is clearly over.
    const limitMs = 5 * ten.ms;
    const many = await finds(big, spread, 10, 2 * limitMs);
    const among = `${ten.ms.toFixed(0)} ms among 10 documents, ${many.ms.toFixed(0)} ms among 100,000 (${many.done} of 50 done)`;
    console.log(`50 finds of 64 ids by _id $in: ${among}`);

    // What one $in saves a caller that would look the 64 ids up one by one (median of 5).
    const median = (values: number[]) => values.sort((a, b) => a - b)[2]!;
    const ids = Array.from({ length: 64 }, (_, j) => `k${j * 1_553}`);
    const oneByOne: number[] = [];
    const inOne: number[] = [];
    for (let round = 0; round < 5; round++) {
      let started = performance.now();
      for (const _id of ids) await big.findOne({ _id });
      oneByOne.push(performance.now() - started);
      started = performance.now();
      await big.find({ _id: { $in: ids } }).toArray();
      inOne.push(performance.now() - started);
    }
    console.log(`64 ids among 100,000 documents: 64 findOne ${median(oneByOne).toFixed(1)} ms, one $in find ${median(inOne).toFixed(1)} ms`);
    expect(many.done).toBe(50);
    expect(many.ms).toBeLessThan(limitMs);
  });
});

type EqDoc = { _id: string; ws?: unknown; camp?: unknown; status?: unknown; email?: string; flag?: unknown; n?: number };

/** MongoDB's top-level {field: value} for a string or boolean value: equal, or an array holding it (one level). */
const matchesEquality = (doc: EqDoc, filter: Record<string, string | boolean>) =>
  Object.entries(filter).every(([field, value]) => {
    const stored = doc[field as keyof EqDoc];
    return stored === value || (Array.isArray(stored) && stored.some((element) => element === value));
  });

describe("the patched local FerretDB's equality pushdown (patch 9)", () => {
  let own: MongoClient;
  let db: Db;
  let eq: Collection<EqDoc>;
  const stored: EqDoc[] = [];
  const tricky = ["", '"quoted"', "back\\slash", "line\nbreak", "\u0001", "é 中文 😀", "</script>&", "a\u2028b", "[not an array]", "\\"];
  beforeAll(async () => {
    own = await new MongoClient((await privateFerretDb()).url).connect();
    db = own.db("equality");
    eq = db.collection<EqDoc>("eq");
    await eq.createIndex({ ws: 1, camp: 1, status: 1, email: 1 }, { name: "by_campaign" });
    const statuses = ["sent", "delivered", "bounced"];
    for (let i = 0; i < 3_000; i++) {
      stored.push({ _id: `d${i}`, ws: `w${i % 2}`, camp: `c${i % 10}`, status: statuses[i % 3], email: `e${i}`, flag: i % 4 === 0, n: i });
    }
    // What an equality matches besides an equal string: arrays holding it; and what it must not match.
    const odd: EqDoc[] = [
      { _id: "array", ws: "w1", camp: ["c1", "cX"], status: "sent", flag: [true] },
      // (FerretDB v1 stores no nested arrays, so [["c1"]], which {camp: "c1"} does not match, cannot be here.)
      { _id: "oid", ws: "w1", camp: new ObjectId("65a000000000000000000001") as unknown as string, status: "sent" },
      { _id: "nested", ws: "w1", camp: { c: "c1" }, status: "sent", flag: { f: true } },
      { _id: "number", ws: "w1", camp: 1, status: "sent", flag: 1 },
      { _id: "null", ws: "w1", camp: null, status: "sent", flag: null },
      { _id: "missing", ws: "w1", status: "sent" },
      { _id: "empty-array", ws: ["w1"], camp: [], status: ["sent", "x"] },
      ...tricky.map((camp, i) => ({ _id: `tricky${i}`, ws: "esc", camp, status: camp, flag: i % 2 === 1 })),
    ];
    stored.push(...odd);
    await eq.insertMany(stored);
  });
  afterAll(async () => own?.close());

  const idsOf = (docs: { _id: string }[]) => docs.map((doc) => doc._id).sort();
  const expected = (filter: Record<string, string | boolean>) => idsOf(stored.filter((doc) => matchesEquality(doc, filter)));
  const filters: Record<string, string | boolean>[] = [
    { ws: "w1", camp: "c1" },
    { ws: "w1", camp: "c1", status: "sent" },
    { camp: "c1", ws: "w1", status: "bounced", email: "e1" },
    { ws: "w1", camp: "cX" },
    { ws: "w1", status: "x" },
    { ws: "w1", flag: true },
    { flag: true },
    { ws: "w1", camp: "65a000000000000000000001" },
    ...tricky.map((camp) => ({ ws: "esc", camp })),
    ...tricky.map((status) => ({ ws: "esc", status })),
  ];

  it("finds exactly what MongoDB matches, arrays holding the value included, in every command", async () => {
    for (const filter of filters) {
      const want = expected(filter);
      const what = JSON.stringify(filter);
      expect(idsOf(await eq.find(filter).toArray()), what).toEqual(want);
      expect(idsOf(await eq.find({ ...filter, n: { $gte: 0 } } as Filter<EqDoc>).toArray()), what).toEqual(idsOf(stored.filter((doc) => matchesEquality(doc, filter) && (doc.n ?? -1) >= 0)));
      expect(await eq.countDocuments(filter), what).toBe(want.length);
      expect((await db.command({ count: "eq", query: filter })).n, what).toBe(want.length);
      expect(idsOf(await eq.aggregate<EqDoc>([{ $match: filter }]).toArray()), what).toEqual(want);
    }
    expect(expected({ ws: "w1", camp: "c1" })).toContain("array"); // the fixture holds what the array branches are for
    expect(idsOf(await eq.find({ ws: "w1", camp: { $eq: "c1" } }).toArray())).toEqual(expected({ ws: "w1", camp: "c1" }));
    const page = await eq.find({ ws: "w1", camp: "c1", email: { $gt: "e5" } }).sort({ email: 1 }).limit(3).toArray();
    expect(page.map((doc) => doc.email)).toEqual(stored.filter((doc) => matchesEquality(doc, { ws: "w1", camp: "c1" }) && (doc.email ?? "") > "e5").map((doc) => doc.email!).sort().slice(0, 3));
  });

  it("updates, finds-and-modifies and deletes exactly those documents", async () => {
    const filter = { ws: "w1", camp: "c3" };
    const want = expected(filter);
    expect((await eq.updateMany(filter, { $set: { touched: true } } as never)).matchedCount).toBe(want.length);
    expect(idsOf(await eq.find({ touched: true } as Filter<EqDoc>).toArray())).toEqual(want);
    expect((await eq.findOneAndUpdate({ ws: "w1", camp: "cX" }, { $set: { n: -1 } }))?._id).toBe("array");
    expect((await eq.deleteMany({ ws: "w0", camp: "c4", status: "delivered" })).deletedCount).toBe(expected({ ws: "w0", camp: "c4", status: "delivered" }).length);
    expect(await eq.countDocuments({ ws: "w0", camp: "c4" })).toBe(expected({ ws: "w0", camp: "c4" }).length - expected({ ws: "w0", camp: "c4", status: "delivered" }).length);
  });

  it("searches the index on the filter's leading fields, and leaves other filters as they were", async () => {
    const plan = async (filter: Document) => {
      const explain = await db.command({ explain: { find: "eq", filter } });
      return { pushdown: explain.filterPushdown as boolean, plan: (explain.queryPlanner as { Plan: string[] }).Plan.join("\n") };
    };
    // Unpatched: no pushdown and a SCAN of the table, which decodes every document in Go.
    for (const filter of [{ ws: "w1", camp: "c1" }, { ws: "w1", camp: "c1", status: "sent", email: { $gt: "e" } }, { camp: "c1", ws: "w1", n: 3 }]) {
      const { pushdown, plan: text } = await plan(filter);
      expect(pushdown, text).toBe(true);
      expect(text).toMatch(/SEARCH .* USING INDEX .*by_campaign \(<expr>=\? AND <expr>=\?/);
      expect(text).not.toMatch(/SCAN/);
    }
    for (const filter of [{ n: 3 }, { "a.b": "x" }, { ws: { $ne: "w1" } }, { ws: null }, { $or: [{ ws: "w1" }] }]) {
      expect((await plan(filter)).pushdown, JSON.stringify(filter)).toBe(false);
    }
  });
});

type PageDoc = { _id: string; ws: string; camp: unknown; status?: unknown; email?: unknown; n: number };

describe("the patched local FerretDB's first N of a sorted find (patch 10)", () => {
  let own: MongoClient;
  let db: Db;
  let sends: Collection<PageDoc>;
  // Sort values of every kind, none tied (a missing field sorts as null: only the missing one is here), safe
  // strings and the ones whose JSON text orders otherwise.
  const odd: unknown[] = [
    "ab", "ab!", "ab ", "a b", "ab\\", 'ab"', "ab\u0001", "ab<", "ab&", "ab>", "é", "中", "😀", "a\u2028", "~", "#", "",
    7, -1.5, new ObjectId("65a000000000000000000002"), ["zz", "aa"], { x: "e5" }, true,
  ];
  beforeAll(async () => {
    own = await new MongoClient((await privateFerretDb()).url).connect();
    db = own.db("topn");
    sends = db.collection<PageDoc>("sends");
    await sends.createIndex({ ws: 1, camp: 1, email: 1 }, { name: "by_email" });
    await sends.createIndex({ ws: 1, camp: 1, status: 1, email: 1 }, { name: "by_status" });
    const docs: PageDoc[] = [];
    const statuses = ["sent", "delivered", "bounced"];
    for (let i = 0; i < 3_000; i++) docs.push({ _id: `s${i}`, ws: "w", camp: `c${i % 3}`, status: statuses[i % 7 % 3], email: `e${String(i).padStart(5, "0")}`, n: i });
    odd.forEach((email, i) => docs.push({ _id: `odd${i}`, ws: "w", camp: "c1", status: "sent", email, n: -i }));
    docs.push({ _id: "no-email", ws: "w", camp: "c1", status: "sent", n: 0 });
    docs.push({ _id: "camp-array", ws: "w", camp: ["c1", "c9"], status: "sent", email: "e00004x", n: 0 });
    docs.push({ _id: "camp-oid", ws: "w", camp: new ObjectId("65a000000000000000000003"), status: "sent", email: "e00004y", n: 0 });
    // The string its ObjectID renders as: {camp: "65a…03"} matches this one only, though the other's email comes first.
    docs.push({ _id: "camp-hex-string", ws: "w", camp: "65a000000000000000000003", status: "sent", email: "e00004z9", n: 0 });
    docs.push({ _id: "status-array", ws: "w", camp: "c1", status: ["bounced", "sent"], email: "e00004z", n: 0 });
    await sends.insertMany(docs);
  });
  afterAll(async () => own?.close());

  const cases: { filter: Filter<PageDoc>; sort: 1 | -1; skip: number; limit: number }[] = [];
  for (const filter of [
    { ws: "w", camp: "c1" },
    { ws: "w", camp: "c1", status: "sent" },
    { ws: "w", camp: "c1", email: { $gt: "e01000" } },
    { ws: "w", camp: "c1", status: "bounced", email: { $gte: "e00500", $lt: "e02000" } },
    { ws: "w", camp: "c9" },
    { ws: "w", camp: "65a000000000000000000003" },
    { ws: "w", camp: "c1", email: { $gt: "ab" } },
    { ws: "w", camp: "c1", email: { $gt: "a b" } },
    { ws: "w", camp: "c1", n: { $gte: 0 } },
  ] as Filter<PageDoc>[]) {
    for (const sort of [1, -1] as const) for (const [skip, limit] of [[0, 1], [0, 101], [5, 20], [0, 5_000]]) cases.push({ filter, sort, skip: skip!, limit: limit! });
  }
  // Every cut through the odd values (they come first ascending among c1's strings, and "é" to "😀" last).
  for (const sort of [1, -1] as const) for (let limit = 2; limit <= 30; limit++) cases.push({ filter: { ws: "w", camp: "c1" }, sort, skip: 0, limit });

  it("returns the page that sorting every match would: odd values, arrays, ObjectIDs, missing fields, both directions, with skip", async () => {
    for (const { filter, sort, skip, limit } of cases) {
      const what = `${JSON.stringify(filter)} sort ${sort} skip ${skip} limit ${limit}`;
      // Without a limit there is no first-N read: the handler sorts every match, the reference.
      const all = await sends.find(filter).sort({ email: sort }).toArray();
      const page = await sends.find(filter).sort({ email: sort }).skip(skip).limit(limit).toArray();
      expect(page.map((doc) => doc._id), what).toEqual(all.slice(skip, skip + limit).map((doc) => doc._id));
    }
    // The fixture holds what the exactness rules are for, among c1's first sends.
    const first = (await sends.find({ ws: "w", camp: "c1" }).sort({ email: 1 }).limit(40).toArray()).map((doc) => doc._id);
    expect(first).toEqual(expect.arrayContaining(["no-email", "camp-array", "odd1", "odd2"]));
  });

  it("reads the first N by the index when the filter is exact in SQL, and leaves other finds as they were", async () => {
    const plan = async (filter: Document, sort: Document = { email: 1 }, limit = 101) => {
      const explain = await db.command({ explain: { find: "sends", filter, sort, limit } });
      return (explain.queryPlanner as { Plan: string[] }).Plan.join("\n");
    };
    // Unpatched (or patch 9 alone): no LIMIT in SQL, every candidate decoded and sorted in Go.
    for (const filter of [{ ws: "w", camp: "c1" }, { ws: "w", camp: "c1", status: "sent", email: { $gt: "e" } }]) {
      const text = await plan(filter);
      expect(text).toMatch(/UNION ALL/);
      expect(text).toMatch(/SEARCH .* USING INDEX/);
    }
    for (const [filter, sort] of [[{ ws: "w", camp: "c1", n: 3 }, { email: 1 }], [{ ws: "w" }, { email: 1, n: 1 }], [{ ws: "w", "a.b": "x" }, { email: 1 }], [{ _id: "s1", ws: "w" }, { email: 1 }]] as [Document, Document][]) {
      expect(await plan(filter, sort), JSON.stringify([filter, sort])).not.toMatch(/UNION ALL/);
    }
  });
});

/** Why the PostgreSQL test below cannot run here (no PostgreSQL 15 binaries, or they cannot be run), else undefined. */
const noPostgres = postgresUnavailable();
if (noPostgres) console.warn(`skipping the local FerretDB's PostgreSQL backend tests: ${noPostgres}`);

/** The same lookups on FerretDB's PostgreSQL backend (what bench/e2e compares), on a cluster of the test's own. */
describe.skipIf(noPostgres !== undefined)("the patched local FerretDB on PostgreSQL, among 10 or 50,000 documents", () => {
  let server: FerretDbOnOwnPostgres | undefined;
  let own: MongoClient;
  let db: Db;
  let small: Collection<IdDoc>;
  let big: Collection<IdDoc>;
  const oids = [new ObjectId(), new ObjectId()];
  beforeAll(async () => {
    server = await startFerretDbOnOwnPostgres();
    own = await new MongoClient(server.url).connect();
    db = own.db("scale");
    small = db.collection<IdDoc>("small");
    big = db.collection<IdDoc>("big");
    await small.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: `k${i}`, v: 1 })));
    for (let i = 0; i < 50_000; i += 10_000) {
      await big.insertMany(Array.from({ length: 10_000 }, (_, j) => ({ _id: `k${i + j}`, v: 1 })), { ordered: false });
    }
    await big.insertMany(oids.map((_id, i) => ({ _id, v: i + 2 })));
  });
  afterAll(async () => {
    await own?.close();
    await server?.stop();
  });

  /** The plan FerretDB hands PostgreSQL for a find, and whether it says it pushed the filter down. */
  const explainFind = async (filter: Document) => {
    const explain = await db.command({ explain: { find: "big", filter } });
    return { pushdown: explain.filterPushdown as boolean, plan: JSON.stringify(explain.queryPlanner) };
  };

  it("looks {_id: x, ...} and {_id: {$in: [...]}, ...} up by the _id index, with the same results", async () => {
    // Deterministic: the plan PostgreSQL chose (an $in: a Bitmap Index Scan). Unpatched `_jsonb->$1 @> $2` is a Seq Scan.
    const pinned = [{ _id: "k777", v: 1 }, { _id: { $eq: "k777" }, v: 1, tag: { $ne: "x" } }, { _id: oids[1], v: 3 }];
    const listed = [{ _id: { $in: ["k7", "nope", oids[0], "k7", "k49999"] }, v: { $gt: 0 } }, { v: 1, _id: { $in: ["k3"] } }];
    for (const filter of [...pinned, ...listed]) {
      const { pushdown, plan } = await explainFind(filter);
      expect(pushdown, plan).toBe(true);
      expect(plan).toMatch(/"Node Type":"(Bitmap )?Index Scan"/);
      expect(plan).toMatch(/"Index Name":"[^"]*_id_/);
      expect(plan).not.toMatch(/Seq Scan/);
    }
    const ids = async (filter: Filter<IdDoc>) => (await big.find(filter).toArray()).map((d) => `${String(d._id)}:${d.v}`).sort();
    expect(await ids(pinned[0]!)).toEqual(["k777:1"]);
    expect(await ids(pinned[1]! as Filter<IdDoc>)).toEqual(["k777:1"]);
    expect(await ids(pinned[2]!)).toEqual([`${oids[1]}:3`]);
    expect(await ids({ _id: "k777", v: 2 })).toEqual([]);
    expect(await ids({ _id: "k777 " })).toEqual([]);
    expect(await ids(listed[0]! as Filter<IdDoc>)).toEqual(["k49999:1", "k7:1", `${oids[0]}:2`].sort());
    expect(await ids({ _id: { $in: ["k7", oids[0]!] }, v: 2 })).toEqual([`${oids[0]}:2`]);
    expect(await ids({ _id: { $in: [] } })).toEqual([]);
    expect(await big.countDocuments({ _id: { $in: ["k1", "k2", "nope"] }, v: 1 })).toBe(2);
    // Left to the handler as before, still exact.
    expect((await explainFind({ _id: { $in: ["k7", 7] } })).pushdown).toBe(false);
    expect(await ids({ _id: { $in: ["k7", 7 as unknown as string] } })).toEqual(["k7:1"]);
  });

  it("runs 100 guarded updateOne({_id, v}) among 50,000 documents in a small multiple of the time among 10", async () => {
    const guarded = async (collection: Collection<IdDoc>, id: (i: number) => string, v: (i: number) => number) => {
      const started = performance.now();
      let matched = 0;
      for (let i = 0; i < 100; i++) matched += (await collection.updateOne({ _id: id(i), v: v(i) }, { $set: { v: v(i) + 1 } })).matchedCount;
      expect(matched).toBe(100);
      return performance.now() - started;
    };
    await guarded(big, (i) => `k${40_000 + i}`, () => 1); // warm-up, on other documents
    const tenMs = await guarded(small, (i) => `k${i % 10}`, (i) => 1 + Math.floor(i / 10));
    // Unpatched each of these scans the table (~60 ms among 50,000).
    const bigMs = await guarded(big, (i) => `k${i * 397}`, () => 1);
    console.log(`PostgreSQL backend, 100 guarded updateOne: ${tenMs.toFixed(0)} ms among 10 documents, ${bigMs.toFixed(0)} ms among 50,000`);
    expect(bigMs).toBeLessThan(5 * tenMs);
  });
});

describe("the local FerretDB with its document locks off (FerretDB v1 as published)", () => {
  it("loses updates, lets two guarded writers win one version and two deleteOne take one document: each race check above bites", async () => {
    const server = await privateFerretDb({ documentLocks: false });
    const client = await new MongoClient(server.url).connect();
    try {
      const faults: Record<string, string[]> = {};
      // A race may happen to lose nothing in one run (more so as the database gets faster): the check bites if it
      // fails the unlocked database in one of three runs.
      const firstFaults = async (run: () => Promise<string[]>) => {
        let seen: string[] = [];
        for (let attempt = 0; attempt < 3 && seen.length === 0; attempt++) seen = await run();
        return seen;
      };
      for (const race of races) faults[race.kind] = await firstFaults(() => runRace(client, server.url, race));
      faults.idIn = await firstFaults(() => idInRace(server.url));
      console.log("with document locks off:", JSON.stringify(faults));
      for (const kind of [...races.map((race) => race.kind), "idIn"]) expect(faults[kind], kind).not.toEqual([]);
    } finally {
      await client.close();
    }
  });
});
