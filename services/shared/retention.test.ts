/** The retention plumbing against the run's real FerretDB v1: TTL indexes measured, sweeps bounded and by `_id`. */
import { MongoClient, type CommandStartedEvent, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shared, uniqueName, waitFor } from "../../test/harness.ts";
import { ConfigError } from "./config.ts";
import { createLogger } from "./log.ts";
import {
  dayMs,
  ensureTtlIndex,
  lifetimeFromEnv,
  loadRetentionSweepSettings,
  startRetentionSweeper,
  sweepMatching,
  sweepUntilDone,
  type RetentionRule,
  type SweepResult,
} from "./retention.ts";

interface Dated {
  _id: string;
  at: Date;
}

let client: MongoClient;
const commands: CommandStartedEvent[] = [];
beforeAll(async () => {
  client = await new MongoClient(shared.mongoUri, { monitorCommands: true }).connect();
  client.on("commandStarted", (event) => commands.push(event));
});
afterAll(async () => client?.close());

const quiet = createLogger({}, "error");
const now = Date.UTC(2026, 11, 2, 12);

/** `fresh` documents a minute old, then `expired` ones a year old, in one new collection. */
async function datedCollection(db: Db, expired: number, fresh: number) {
  const collection = db.collection<Dated>(uniqueName("dated"));
  // Fresh ones first: a sweep must not spend its pages on them (FerretDB reads in insertion order).
  const docs = [
    ...Array.from({ length: fresh }, (_, i) => ({ _id: `new-${i}`, at: new Date(now - 60_000) })),
    ...Array.from({ length: expired }, (_, i) => ({ _id: `old-${i}`, at: new Date(now - 365 * dayMs) })),
  ];
  if (docs.length > 0) await collection.insertMany(docs);
  return collection;
}

describe("TTL indexes on the local database", () => {
  it("are refused by FerretDB v1 with NotImplemented (238): ensureTtlIndex answers false and leaves no index", async () => {
    const db = client.db(uniqueName("ttl"));
    const collection = await datedCollection(db, 1, 1);
    expect(await ensureTtlIndex(collection, "at", 30 * dayMs)).toBe(false);
    const names = (await collection.listIndexes().toArray()).map((index) => index.name);
    expect(names).not.toContain("at_ttl");
    // The server's own answer, without the helper: what the measurement is.
    const refusal = await collection.createIndex({ at: 1 }, { name: "at_ttl", expireAfterSeconds: 60 }).catch((error: unknown) => error);
    expect(refusal).toMatchObject({ code: 238, codeName: "NotImplemented" });
    await db.dropDatabase();
  });
});

describe("a sweep of documents that go alone", () => {
  it("deletes at most its pages per run, only expired documents, each by its own _id statement", async () => {
    const db = client.db(uniqueName("sweep"));
    const collection = await datedCollection(db, 730, 20);
    const expired = { at: { $lt: new Date(now - 30 * dayMs) } };
    commands.length = 0;
    const first = await sweepMatching(collection, expired, { pageSize: 100, pages: 3 });
    expect(first).toEqual({ deleted: 300, more: true });
    expect(await collection.countDocuments({})).toBe(450);
    // Every delete statement pins one _id (on the local FerretDB: that document's lock, not the collection's).
    const statements = commands.filter((command) => command.commandName === "delete").flatMap((command) => command.command.deletes as { q: Record<string, unknown> }[]);
    expect(statements).toHaveLength(300);
    for (const { q } of statements) expect(typeof q._id).toBe("string");

    const rule: RetentionRule = { name: "test:dated", lifetimeMs: 30 * dayMs, sweep: (cutoffMs, limits) => sweepMatching(collection, { at: { $lt: new Date(cutoffMs) } }, limits) };
    expect(await sweepUntilDone(rule, now, { pageSize: 100, pages: 3 })).toEqual({ deleted: 430, more: false });
    expect((await collection.find({}).toArray()).map((doc) => doc._id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `new-${i}`).sort());
    // A run that finds nothing asks for no more.
    expect(await sweepMatching(collection, expired, { pageSize: 100, pages: 3 })).toEqual({ deleted: 0, more: false });
    await db.dropDatabase();
  });
});

describe("the retention sweeper", () => {
  const settings = { intervalMs: 60_000, limits: { pageSize: 10, pages: 1 } };

  it("works a backlog off run after run, and another instance skips a rule swept moments ago", async () => {
    const db = client.db(uniqueName("sweeper"));
    const collection = await datedCollection(db, 35, 5);
    const runs: string[] = [];
    const rule = (instance: string): RetentionRule => ({
      name: "test:dated",
      lifetimeMs: 30 * dayMs,
      sweep: async (cutoffMs, limits): Promise<SweepResult> => {
        runs.push(instance);
        return await sweepMatching(collection, { at: { $lt: new Date(cutoffMs) } }, limits);
      },
    });
    const a = startRetentionSweeper({ db, rules: [rule("a")], settings, log: quiet, now: () => now });
    // 35 expired at 10 a run: three full runs, a fourth that finds 5 and marks the rule swept.
    await waitFor(async () => (await collection.countDocuments({})) === 5 && runs.length >= 4, { what: "the backlog to be gone" });
    await waitFor(async () => (await db.collection("retention_sweeps").findOne({ _id: "test:dated" as never }))?.sweptAtMs === now, { what: "the mark" });
    await a.stop();
    expect(runs).toEqual(["a", "a", "a", "a"]);

    // Rules run in order: once b's second rule ran, b has decided about the first.
    let probed = false;
    const probe: RetentionRule = {
      name: "test:probe",
      lifetimeMs: dayMs,
      sweep: async () => {
        probed = true;
        return { deleted: 0, more: false };
      },
    };
    const b = startRetentionSweeper({ db, rules: [rule("b"), probe], settings, log: quiet, now: () => now + 1000 });
    await waitFor(() => probed, { what: "b's first run" });
    await b.stop();
    expect(runs).toEqual(["a", "a", "a", "a"]);
    await db.dropDatabase();
  });

  it("skips a rule the database expires itself and sweeps it when the database refuses", async () => {
    const db = client.db(uniqueName("sweeper"));
    const swept: string[] = [];
    const rule = (name: string, byDatabase: boolean): RetentionRule => ({
      name,
      lifetimeMs: dayMs,
      expireByDatabase: async () => byDatabase,
      sweep: async () => {
        swept.push(name);
        return { deleted: 0, more: false };
      },
    });
    const sweeper = startRetentionSweeper({ db, rules: [rule("test:ttl", true), rule("test:swept", false)], settings, log: quiet, now: () => now });
    await waitFor(() => swept.length > 0, { what: "a sweep" });
    await sweeper.stop();
    expect(swept).toEqual(["test:swept"]);
    await db.dropDatabase();
  });
});

describe("retention variables", () => {
  it("take days with fractions and name the variable when out of range", () => {
    expect(lifetimeFromEnv({ SENDS_RETENTION_DAYS: "0.5" }, "SENDS_RETENTION_DAYS", 400)).toBe(dayMs / 2);
    expect(lifetimeFromEnv({}, "SENDS_RETENTION_DAYS", 400)).toBe(400 * dayMs);
    expect(() => lifetimeFromEnv({ WEBHOOK_HEALTH_RETENTION_DAYS: "1" }, "WEBHOOK_HEALTH_RETENTION_DAYS", 30, 2)).toThrow(ConfigError);
    expect(() => lifetimeFromEnv({ AUDIT_RETENTION_DAYS: "-3" }, "AUDIT_RETENTION_DAYS", 730)).toThrow(/AUDIT_RETENTION_DAYS/);
    expect(loadRetentionSweepSettings({ RETENTION_SWEEP_MINUTES: "0.5" }).intervalMs).toBe(30_000);
    expect(loadRetentionSweepSettings({}).intervalMs).toBe(600_000);
  });
});
