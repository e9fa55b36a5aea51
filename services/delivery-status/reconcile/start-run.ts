/**
 * Starting reconciliation runs: on demand (ReconcileSends), when the gateway reports a silence
 * (WebhookSilence), and by the automatic sweep. Starting only stores the run; whichever instance's
 * worker claims it first works on it (run-worker.ts), so the caller never waits for Resend.
 */
import { randomUUID } from "node:crypto";
import { FailedPreconditionError } from "../../shared/errors.ts";
import type { ApiKeyRepository } from "../api-key-repository.ts";
import type { SendsRepository } from "../sends-repository.ts";
import type { ReconciliationRun, RunRepository, RunSelection, RunTrigger } from "./run-repository.ts";

export interface StartRunDeps {
  runs: RunRepository;
  sends: Pick<SendsRepository, "countForReconciliation">;
  apiKeys: Pick<ApiKeyRepository, "find">;
  now(): number;
  /** Tells this instance's worker to look for work now rather than at its next poll. */
  wake(): void;
}

export interface StartRunRequest {
  workspaceId: string;
  selection: RunSelection;
  trigger: RunTrigger;
  /** A run id derived from the cause (a silence, a sweep), so a repeated cause starts nothing new; default a fresh one. */
  runId?: string;
  /** Store nothing when no send is selected (the sweep: most of its windows are empty). */
  skipWhenEmpty?: boolean;
}

export interface StartRunResult {
  runId: string;
  alreadyRunning: boolean;
  /** Nothing was selected and `skipWhenEmpty` was set: no run was stored. */
  empty?: true;
}

/** Starts a run unless one of the workspace runs (then answers its id). Throws FailedPreconditionError without a Resend API key. */
export async function startRun(deps: StartRunDeps, request: StartRunRequest): Promise<StartRunResult> {
  if (!(await deps.apiKeys.find(request.workspaceId, "resend"))) {
    throw new FailedPreconditionError("no Resend API key is set for the workspace: set one with SetProviderApiKey (ngsreach apikey set)");
  }
  const total = await deps.sends.countForReconciliation(request.workspaceId, request.selection);
  const runId = request.runId ?? randomUUID();
  if (total === 0 && request.skipWhenEmpty) return { runId, alreadyRunning: false, empty: true };
  const nowMs = deps.now();
  const run: ReconciliationRun = {
    workspaceId: request.workspaceId,
    runId,
    selection: request.selection,
    trigger: request.trigger,
    state: "running",
    total,
    checked: 0,
    changed: 0,
    unchanged: 0,
    failed: 0,
    failures: [],
    eventsPublished: 0,
    stopReason: "",
    createdAtMs: nowMs,
    updatedAtMs: nowMs,
    owner: "",
    leaseUntilMs: 0,
  };
  const result = await deps.runs.start(run);
  if (!result.started) return { runId: result.runId, alreadyRunning: true };
  deps.wake();
  return { runId: run.runId, alreadyRunning: false };
}
