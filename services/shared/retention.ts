/**
 * Retention plumbing: how long a kind of document lives, and how it goes when that is over.
 *
 * Where the database expires documents itself (a TTL index, on MongoDB) it does. FerretDB v1 refuses TTL
 * indexes (NotImplemented, code 238), and some lifetimes are not one Date field (a send goes with its
 * timeline): there a bounded sweeper deletes what expired, a few pages per run, each document by its own
 * `_id` statement. On the local FerretDB a statement that pins one `_id` locks only that document, while a
 * filter such as `_id: {$in}` locks the whole collection for writers (its build's document locks), so the
 * service's own writes are never held up behind a sweep. Every instance sweeps (a delete is idempotent);
 * a mark in `retention_sweeps` lets an instance skip a run another instance has just made.
 */
import type { Collection, Db, Document, Filter, FindCursor } from "mongodb";
import { envReader, type Env } from "./config.ts";
import type { Logger } from "./log.ts";
import type { MetricsRegistry } from "./metrics.ts";
import { ensureIndexes } from "./mongo.ts";

export const dayMs = 86_400_000;

/** How much one run of a sweep may delete: `pages` pages of `pageSize` documents. */
export interface SweepLimits {
  readonly pageSize: number;
  readonly pages: number;
}

/** What one run of a sweep did; `more`: it made progress and stopped at its limit, so run it again soon. */
export interface SweepResult {
  deleted: number;
  more: boolean;
}

/** One kind of document with a lifetime. */
export interface RetentionRule {
  /** `<service>:<what>`, unique in the database: names the sweep's mark, its logs and its metric label. */
  readonly name: string;
  readonly lifetimeMs: number;
  /** Makes the database expire these documents itself where it can; true when it does (no sweep runs then). */
  expireByDatabase?(): Promise<boolean>;
  /** One bounded run deleting what expired before `cutoffMs`; `nowMs` is the run's time. */
  sweep(cutoffMs: number, limits: SweepLimits, nowMs: number): Promise<SweepResult>;
}

/** How often sweeps run and how much each run deletes. */
export interface RetentionSweepSettings {
  readonly intervalMs: number;
  readonly limits: SweepLimits;
}

/** RETENTION_SWEEP_MINUTES (default 10; fractions are for tests). */
export function loadRetentionSweepSettings(env: Env = process.env): RetentionSweepSettings {
  return Object.freeze({
    intervalMs: envReader(env).number("RETENTION_SWEEP_MINUTES", 10, 0.001, 1440) * 60_000,
    limits: Object.freeze({ pageSize: 500, pages: 4 }),
  });
}

/** A lifetime in days read from `name` (fractions allowed, so tests shorten it to seconds), in ms. */
export function lifetimeFromEnv(env: Env, name: string, fallbackDays: number, minDays = 0.00001, maxDays = 36_500): number {
  return envReader(env).number(name, fallbackDays, minDays, maxDays) * dayMs;
}

const notImplemented = 238;
const namespaceNotFound = 26;

/**
 * Makes the database delete a document `lifetimeMs` after the Date in its `field` (a document without that
 * field never expires). An existing TTL index is given a changed lifetime in place (`collMod`). False
 * when the database refuses TTL indexes (FerretDB v1): then a sweep must do it.
 */
export async function ensureTtlIndex(collection: Collection<any>, field: string, lifetimeMs: number): Promise<boolean> {
  const name = `${field}_ttl`;
  const expireAfterSeconds = Math.max(1, Math.round(lifetimeMs / 1000));
  const existing = (await listIndexes(collection)).find((index) => index.name === name);
  if (existing) {
    if (existing.expireAfterSeconds !== expireAfterSeconds) {
      await collection.db.command({ collMod: collection.collectionName, index: { name, expireAfterSeconds } });
    }
    return true;
  }
  try {
    await ensureIndexes(collection, [{ key: { [field]: 1 }, name, expireAfterSeconds }]);
    return true;
  } catch (error) {
    if (codeOf((error as { cause?: unknown }).cause) === notImplemented) return false;
    throw error;
  }
}

async function listIndexes(collection: Collection<any>): Promise<Document[]> {
  try {
    return await collection.listIndexes().toArray();
  } catch (error) {
    if (codeOf(error) === namespaceNotFound) return [];
    throw error;
  }
}

const codeOf = (error: unknown) => (error as { code?: unknown } | undefined)?.code;

/** The cursor's documents, `pageSize` at a time (its batch size should be the same). */
export async function* pagesOf<T>(cursor: FindCursor<T>, pageSize: number): AsyncGenerator<T[]> {
  let page: T[] = [];
  try {
    for await (const doc of cursor) {
      page.push(doc);
      if (page.length === pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  } finally {
    await cursor.close();
  }
}

/** Delete statements sent in one command: a command is one round trip, and others' commands run between two. */
const deleteChunk = 1000;

/** Deletes each document matching one of `filters` (each pins an `_id`: one document's lock); how many went. */
export async function deleteEach<T extends Document>(collection: Collection<T>, filters: readonly Filter<T>[]): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < filters.length; i += deleteChunk) {
    const operations = filters.slice(i, i + deleteChunk).map((filter) => ({ deleteOne: { filter } }));
    deleted += (await collection.bulkWrite(operations, { ordered: false })).deletedCount;
  }
  return deleted;
}

/**
 * One sweep run for documents that go alone: those `expired` selects, read `_id` only in pages, each
 * deleted with `expired` asked again (a document that changed since the read stays).
 */
export async function sweepMatching<T extends Document & { _id: unknown }>(collection: Collection<T>, expired: Filter<T>, limits: SweepLimits): Promise<SweepResult> {
  const limit = limits.pageSize * limits.pages;
  const cursor = collection.find(expired, { projection: { _id: 1 }, limit, batchSize: limits.pageSize });
  let deleted = 0;
  let read = 0;
  for await (const page of pagesOf(cursor, limits.pageSize)) {
    read += page.length;
    deleted += await deleteEach(collection, page.map((doc) => ({ ...expired, _id: doc._id }) as Filter<T>));
  }
  return { deleted, more: read === limit && deleted > 0 };
}

/** Runs the rule's sweep at `nowMs` until it asks for no more; what it deleted in all. For tests and `sweepNow`. */
export async function sweepUntilDone(rule: RetentionRule, nowMs: number, limits: SweepLimits): Promise<SweepResult> {
  let deleted = 0;
  let result: SweepResult;
  do {
    result = await rule.sweep(nowMs - rule.lifetimeMs, limits, nowMs);
    deleted += result.deleted;
  } while (result.more);
  return { deleted, more: false };
}

interface SweepMark {
  _id: string;
  sweptAtMs: number;
}

/** A started sweeper. */
export interface RetentionSweeper {
  /**
   * Sweeps every rule now, marks ignored and TTL indexes or not, until no run asks for more; the results by
   * rule name. For tests and tools: a `nowMs` in the future expires what would expire by then.
   */
  sweepNow(nowMs?: number): Promise<Map<string, SweepResult>>;
  stop(): Promise<void>;
}

export interface RetentionSweeperDeps {
  db: Db;
  rules: readonly RetentionRule[];
  settings: RetentionSweepSettings;
  log: Logger;
  metrics?: MetricsRegistry;
  now?: () => number;
}

/** Pause between two runs while a backlog waits: long enough to let the service's own work through. */
const backlogPauseMs = 1000;

/**
 * Sweeps every rule the database does not expire itself: at start, then about every interval (±10 %, so
 * instances drift apart). A rule that stopped at its limit runs again after a short pause until its
 * backlog is gone; a failure is logged and retried at the next run. Rules run one after another.
 */
export function startRetentionSweeper({ db, rules, settings, log, metrics, now = Date.now }: RetentionSweeperDeps): RetentionSweeper {
  const marks = db.collection<SweepMark>("retention_sweeps");
  const deletedTotal = metrics?.counter("ngsreach_retention_deleted_total", "Documents the retention sweeps of this instance deleted, by rule.", ["rule"]);
  const byDatabase = new Map<string, boolean>();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<unknown> = Promise.resolve();

  /** Whether the database expires the rule's documents itself, asked once per process (retried after a failure). */
  const databaseExpires = async (rule: RetentionRule) => {
    if (!rule.expireByDatabase) return false;
    let expires = byDatabase.get(rule.name);
    if (expires === undefined) {
      expires = await rule.expireByDatabase();
      byDatabase.set(rule.name, expires);
      log.info(expires ? "retention: the database expires these documents (TTL index)" : "retention: the database has no TTL indexes; swept", { rule: rule.name });
    }
    return expires;
  };

  const runRule = async (rule: RetentionRule, nowMs: number): Promise<SweepResult> => {
    const result = await rule.sweep(nowMs - rule.lifetimeMs, settings.limits, nowMs);
    if (result.deleted > 0) {
      deletedTotal?.inc({ rule: rule.name }, result.deleted);
      log.info("retention: deleted expired documents", { rule: rule.name, count: result.deleted, more: result.more });
    }
    return result;
  };

  /** One run of every rule, or (`backlog` not empty) of those that asked for more at the last one. */
  const tick = async (backlog: ReadonlySet<string>) => {
    const waiting = new Set<string>();
    for (const rule of rules) {
      if (stopped) return;
      if (backlog.size > 0 && !backlog.has(rule.name)) continue;
      try {
        if (await databaseExpires(rule)) continue;
        const nowMs = now();
        // Another instance swept lately: skip, unless this one is working off the backlog it found.
        const mark = backlog.has(rule.name) ? null : await marks.findOne({ _id: rule.name });
        if (mark && mark.sweptAtMs > nowMs - settings.intervalMs * 0.8) continue;
        const result = await runRule(rule, nowMs);
        if (result.more) waiting.add(rule.name);
        else await marks.updateOne({ _id: rule.name }, { $set: { sweptAtMs: nowMs } }, { upsert: true });
      } catch (error) {
        log.warn("retention sweep failed; the next run retries", { rule: rule.name, error });
      }
    }
    if (stopped) return;
    const delay = waiting.size > 0 ? backlogPauseMs : settings.intervalMs * (0.9 + Math.random() * 0.2);
    timer = setTimeout(() => (running = tick(waiting)), delay);
    timer.unref?.();
  };
  // Not in the middle of start-up: a little later, at a random moment (instances started together spread out).
  timer = setTimeout(() => (running = tick(new Set())), Math.random() * Math.min(settings.intervalMs, 5000));
  timer.unref?.();

  return {
    sweepNow: async (nowMs = now()) => {
      const results = new Map<string, SweepResult>();
      for (const rule of rules) results.set(rule.name, await sweepUntilDone(rule, nowMs, settings.limits));
      return results;
    },
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
