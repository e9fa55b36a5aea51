/**
 * Webhook health counters per workspace and UTC hour (collection
 * `gateway_webhook_health`, `_id` = `<workspace>:<hour>`), plus the time of
 * the last accepted event (`_id` = `<workspace>:last`). Every read and write
 * addresses documents by `_id`, the one lookup FerretDB's SQLite backend runs
 * in SQL. Hour documents expire by their `hour` (gateway-retention.ts); the
 * `last` document has none and stays.
 */
import type { Collection, Db } from "mongodb";
import { ensureTtlIndex, sweepMatching, type SweepLimits, type SweepResult } from "../../shared/retention.ts";
import { healthCounters, type HealthCounter } from "./outcomes.ts";

export type Counts = Record<HealthCounter, number>;

export const zeroCounts = (): Counts => Object.fromEntries(healthCounters.map((name) => [name, 0])) as Counts;

interface HealthDoc {
  _id: string;
  workspaceId: string;
  hour?: Date;
  counts?: Partial<Counts>;
  lastAcceptedAt?: Date;
}

/** `2026-11-26T19` — the UTC hour a time falls in. */
export const hourKey = (at: Date) => at.toISOString().slice(0, 13);

export class HealthRepository {
  private readonly health: Collection<HealthDoc>;

  constructor(db: Db) {
    this.health = db.collection<HealthDoc>("gateway_webhook_health");
  }

  /**
   * Adds counts and the last-accepted time to one workspace-hour in one
   * update, then best-effort moves the workspace's all-time last-accepted
   * time forward (read as the latest of both).
   */
  async add(workspaceId: string, hour: string, counts: Partial<Counts>, lastAcceptedAt?: Date): Promise<void> {
    const inc = Object.fromEntries(Object.entries(counts).filter(([, n]) => n).map(([name, n]) => [`counts.${name}`, n]));
    await this.health.updateOne(
      { _id: `${workspaceId}:${hour}` },
      {
        $inc: inc,
        ...(lastAcceptedAt ? { $max: { lastAcceptedAt } } : {}),
        $setOnInsert: { workspaceId, hour: new Date(`${hour}:00:00Z`) },
      },
      { upsert: true },
    );
    if (lastAcceptedAt) {
      await this.health
        .updateOne({ _id: `${workspaceId}:last` }, { $max: { lastAcceptedAt }, $setOnInsert: { workspaceId } }, { upsert: true })
        .catch(() => {});
    }
  }

  /** A TTL index on `hour` where the database has them; false where it has not. */
  async expireHoursByDatabase(lifetimeMs: number): Promise<boolean> {
    return await ensureTtlIndex(this.health, "hour", lifetimeMs);
  }

  /** Deletes hour documents of hours that began before `cutoffMs` (one sweep run); never a `last` document. */
  async sweepHours(cutoffMs: number, limits: SweepLimits): Promise<SweepResult> {
    return await sweepMatching(this.health, { hour: { $lt: new Date(cutoffMs) } }, limits);
  }

  /** Sums the given hours and reads the last accepted time. */
  async read(workspaceId: string, hours: string[]): Promise<{ counts: Counts; lastAcceptedAt?: Date }> {
    const docs = await Promise.all([...hours, "last"].map((hour) => this.health.findOne({ _id: `${workspaceId}:${hour}` })));
    const counts = zeroCounts();
    let lastAcceptedAt: Date | undefined;
    for (const doc of docs) {
      for (const name of healthCounters) counts[name] += doc?.counts?.[name] ?? 0;
      if (doc?.lastAcceptedAt && (!lastAcceptedAt || doc.lastAcceptedAt > lastAcceptedAt)) lastAcceptedAt = doc.lastAcceptedAt;
    }
    return { counts, lastAcceptedAt };
  }
}
