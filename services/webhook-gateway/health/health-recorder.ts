/**
 * Counts webhook outcomes per workspace without slowing the hot path:
 * increments in memory, flushed to the database in batches every few seconds
 * (and on shutdown). A failed flush keeps the counts for the next one.
 */
import type { Logger } from "../../shared/log.ts";
import { hourKey, zeroCounts, type Counts, type HealthRepository } from "./health-repository.ts";
import type { HealthCounter } from "./outcomes.ts";

interface Pending {
  counts: Map<string, Counts>;
  lastAcceptedAt?: Date;
}

export class HealthRecorder {
  private pending = new Map<string, Pending>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly repository: HealthRepository;
  private readonly log: Logger;

  constructor(repository: HealthRepository, log: Logger) {
    this.repository = repository;
    this.log = log;
  }

  /** Records one outcome for a workspace that exists. */
  record(workspaceId: string, counter: HealthCounter, at: Date): void {
    let entry = this.pending.get(workspaceId);
    if (!entry) this.pending.set(workspaceId, (entry = { counts: new Map() }));
    const hour = hourKey(at);
    let counts = entry.counts.get(hour);
    if (!counts) entry.counts.set(hour, (counts = zeroCounts()));
    counts[counter]++;
    if (counter === "accepted" && (!entry.lastAcceptedAt || at > entry.lastAcceptedAt)) entry.lastAcceptedAt = at;
  }

  /** Counts not yet flushed, for the given hours (so health reads are exact on this instance). */
  unflushed(workspaceId: string, hours: string[]): { counts: Counts; lastAcceptedAt?: Date } {
    const counts = zeroCounts();
    const entry = this.pending.get(workspaceId);
    for (const hour of hours) {
      const pending = entry?.counts.get(hour);
      if (pending) for (const name of Object.keys(counts) as HealthCounter[]) counts[name] += pending[name];
    }
    return { counts, lastAcceptedAt: entry?.lastAcceptedAt };
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Writes what is pending; one flush at a time. */
  flush(): Promise<void> {
    return this.exclusive(() => this.flushOnce());
  }

  /**
   * Flushes, then runs `read` before any other flush can start: counts are then either in the database
   * or still pending in memory, never in a batch being written (which a read would miss).
   */
  withFlushed<T>(read: () => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      await this.flushOnce();
      return await read();
    });
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.flushing.then(work);
    this.flushing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async flushOnce(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    for (const [workspaceId, entry] of batch) {
      for (const [hour, counts] of entry.counts) {
        const last = entry.lastAcceptedAt && hourKey(entry.lastAcceptedAt) === hour ? entry.lastAcceptedAt : undefined;
        try {
          await this.repository.add(workspaceId, hour, counts, last);
        } catch (error) {
          this.log.warn("webhook health flush failed, keeping counts for the next flush", { workspaceId, error });
          this.mergeBack(workspaceId, hour, counts, last);
        }
      }
    }
  }

  private mergeBack(workspaceId: string, hour: string, counts: Counts, lastAcceptedAt: Date | undefined): void {
    let entry = this.pending.get(workspaceId);
    if (!entry) this.pending.set(workspaceId, (entry = { counts: new Map() }));
    const target = entry.counts.get(hour) ?? zeroCounts();
    for (const name of Object.keys(counts) as HealthCounter[]) target[name] += counts[name];
    entry.counts.set(hour, target);
    if (lastAcceptedAt && (!entry.lastAcceptedAt || lastAcceptedAt > entry.lastAcceptedAt)) entry.lastAcceptedAt = lastAcceptedAt;
  }
}
