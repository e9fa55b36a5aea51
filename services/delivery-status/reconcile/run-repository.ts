/**
 * Storage of reconciliation runs, so they survive restarts and run once per workspace across instances:
 *
 * - `delivery_reconciliations`, `_id: "<workspace>:<run id>"`: a run's filters, progress (the last email
 *   id done and the counts, saved together after every send, so a resumed run neither skips nor counts a
 *   send twice) and its lease: the instance working on it (`owner`) and until when (`leaseUntilMs`,
 *   renewed with every save). A run whose lease ran out is taken over by whichever instance asks first.
 * - `delivery_reconcile_active`, `_id: "<workspace>"`: the workspace's running run. Inserting it is what
 *   starts a run (the unique `_id` lets one instance win); finishing deletes it.
 * - `delivery_reconcile_sweeps`, `_id: "<workspace>"`: how far the automatic sweep has got (sends sent
 *   before `untilUs` were swept), moved forward by one instance at a time.
 *
 * Finished runs are deleted RECONCILE_RUN_RETENTION_DAYS after they finished (sweepFinished); running ones
 * never. `finishedAtMs` is a number, not a Date, so no TTL index: the collection holds few documents.
 */
import type { Collection, Db } from "mongodb";
import { isDuplicateKeyError } from "../../shared/mongo.ts";
import { sweepMatching, type SweepLimits, type SweepResult } from "../../shared/retention.ts";
import type { ReconcileSelection } from "../sends-repository.ts";

export type RunTrigger = "manual" | "silence" | "sweep";
export type RunState = "running" | "succeeded" | "failed";

export interface RunFailure {
  reason: string;
  count: number;
  exampleEmailId: string;
}

/** Which sends a run checks (the filter itself is the sends repository's). */
export type RunSelection = ReconcileSelection;

export interface ReconciliationRun {
  workspaceId: string;
  runId: string;
  selection: RunSelection;
  trigger: RunTrigger;
  state: RunState;
  total: number;
  checked: number;
  changed: number;
  unchanged: number;
  failed: number;
  failures: RunFailure[];
  eventsPublished: number;
  stopReason: string;
  /** The last email id checked (sends are checked in email id order). */
  cursor?: string;
  createdAtMs: number;
  updatedAtMs: number;
  finishedAtMs?: number;
  owner: string;
  /** 0: nobody works on it. */
  leaseUntilMs: number;
}

interface RunDocument extends ReconciliationRun {
  _id: string;
}

interface ActiveDocument {
  _id: string;
  runId: string;
}

interface SweepDocument {
  _id: string;
  untilUs: number;
}

/** At most this many distinct failure reasons are kept; the rest count under the last one. */
export const maxFailureReasons = 20;

const runKey = (workspaceId: string, runId: string) => `${workspaceId}:${runId}`;

export type StartResult = { started: true; run: ReconciliationRun } | { started: false; runId: string };

export class RunRepository {
  readonly #runs: Collection<RunDocument>;
  readonly #active: Collection<ActiveDocument>;
  readonly #sweeps: Collection<SweepDocument>;

  constructor(db: Db) {
    this.#runs = db.collection<RunDocument>("delivery_reconciliations");
    this.#active = db.collection<ActiveDocument>("delivery_reconcile_active");
    this.#sweeps = db.collection<SweepDocument>("delivery_reconcile_sweeps");
  }

  async get(workspaceId: string, runId: string): Promise<ReconciliationRun | undefined> {
    const doc = await this.#runs.findOne({ _id: runKey(workspaceId, runId) });
    return doc ? fromDocument(doc) : undefined;
  }

  /**
   * Starts the run unless the workspace has one running (then: its id). A run id used before (a silence
   * announced twice) starts nothing and answers that run's id.
   */
  async start(run: ReconciliationRun): Promise<StartResult> {
    try {
      await this.#runs.insertOne({ _id: runKey(run.workspaceId, run.runId), ...run });
    } catch (error) {
      if (isDuplicateKeyError(error)) return { started: false, runId: run.runId };
      throw error;
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.#active.insertOne({ _id: run.workspaceId, runId: run.runId });
        return { started: true, run };
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
      const holder = await this.#active.findOne({ _id: run.workspaceId });
      if (!holder) continue; // it just finished: try again
      const held = await this.get(run.workspaceId, holder.runId);
      if (held?.state === "running") {
        await this.#runs.deleteOne({ _id: runKey(run.workspaceId, run.runId) });
        return { started: false, runId: holder.runId };
      }
      // A run that finished without letting go (its instance died between the two writes): take over.
      const taken = await this.#active.updateOne({ _id: run.workspaceId, runId: holder.runId }, { $set: { runId: run.runId } });
      if (taken.matchedCount === 1) return { started: true, run };
    }
    await this.#runs.deleteOne({ _id: runKey(run.workspaceId, run.runId) });
    throw new Error(`could not start a reconciliation of workspace ${run.workspaceId}: its active run kept changing`);
  }

  /** Takes a running run nobody holds (or whose holder went quiet) for `owner`; undefined when there is none. */
  async claim(owner: string, nowMs: number, leaseMs: number): Promise<ReconciliationRun | undefined> {
    const candidates = await this.#runs.find({ state: "running", leaseUntilMs: { $lt: nowMs } }).limit(10).toArray();
    for (const doc of candidates) {
      const taken = await this.#runs.updateOne(
        { _id: doc._id, state: "running", leaseUntilMs: doc.leaseUntilMs, checked: doc.checked },
        { $set: { owner, leaseUntilMs: nowMs + leaseMs } },
      );
      if (taken.matchedCount === 1) return { ...fromDocument(doc), owner, leaseUntilMs: nowMs + leaseMs };
    }
    return undefined;
  }

  /**
   * Saves the run's progress and renews its lease, if `owner` still holds it at the progress read
   * (`checkedBefore`); false when another instance took it over (then this one stops working on it).
   */
  async save(run: ReconciliationRun, checkedBefore: number, nowMs: number, leaseMs: number): Promise<boolean> {
    const { workspaceId, runId, owner } = run;
    const result = await this.#runs.updateOne(
      { _id: runKey(workspaceId, runId), owner, state: "running", checked: checkedBefore },
      {
        $set: {
          checked: run.checked,
          changed: run.changed,
          unchanged: run.unchanged,
          failed: run.failed,
          failures: run.failures,
          eventsPublished: run.eventsPublished,
          ...(run.cursor !== undefined ? { cursor: run.cursor } : {}),
          updatedAtMs: nowMs,
          leaseUntilMs: nowMs + leaseMs,
        },
      },
    );
    return result.matchedCount === 1;
  }

  /** Ends the run (if `owner` still holds it) and lets the workspace start another. */
  async finish(run: ReconciliationRun, state: Exclude<RunState, "running">, stopReason: string, nowMs: number): Promise<boolean> {
    const result = await this.#runs.updateOne(
      { _id: runKey(run.workspaceId, run.runId), owner: run.owner, state: "running", checked: run.checked },
      { $set: { state, stopReason, finishedAtMs: nowMs, updatedAtMs: nowMs, leaseUntilMs: 0 } },
    );
    // Only the holder lets go: an instance that lost the run must not free the workspace while another works on it.
    if (result.matchedCount !== 1) return false;
    await this.#active.deleteOne({ _id: run.workspaceId, runId: run.runId });
    return true;
  }

  /** Gives the lease up (on shutdown), so another instance resumes the run at once rather than after the lease. */
  async release(run: ReconciliationRun): Promise<void> {
    await this.#runs.updateOne({ _id: runKey(run.workspaceId, run.runId), owner: run.owner, state: "running" }, { $set: { leaseUntilMs: 0 } });
  }

  /** Deletes runs that finished before `cutoffMs` (one sweep run). */
  async sweepFinished(cutoffMs: number, limits: SweepLimits): Promise<SweepResult> {
    return await sweepMatching(this.#runs, { state: { $in: ["succeeded", "failed"] }, finishedAtMs: { $lt: cutoffMs } }, limits);
  }

  /** Until when (µs) the workspace's sends were swept; undefined before its first sweep. */
  async sweptUntil(workspaceId: string): Promise<number | undefined> {
    return (await this.#sweeps.findOne({ _id: workspaceId }))?.untilUs;
  }

  /** Moves the sweep from `fromUs` (as read) to `toUs`; false when another instance moved it first. */
  async advanceSweep(workspaceId: string, fromUs: number | undefined, toUs: number): Promise<boolean> {
    if (fromUs === undefined) {
      try {
        await this.#sweeps.insertOne({ _id: workspaceId, untilUs: toUs });
        return true;
      } catch (error) {
        if (isDuplicateKeyError(error)) return false;
        throw error;
      }
    }
    const result = await this.#sweeps.updateOne({ _id: workspaceId, untilUs: fromUs }, { $set: { untilUs: toUs } });
    return result.matchedCount === 1;
  }
}

function fromDocument(doc: RunDocument): ReconciliationRun {
  const { _id, ...run } = doc;
  return { ...run, failures: run.failures ?? [] };
}
