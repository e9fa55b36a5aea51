/**
 * ReconcileSends and GetReconciliation: validate, start or read the run, map it to proto. Without
 * SECRETS_KEY this instance cannot open API keys: both answer FailedPrecondition saying so.
 */
import { create } from "@bufbuild/protobuf";
import {
  GetReconciliationResponseSchema,
  ReconcileSendsResponseSchema,
  ReconciliationSchema,
  ReconciliationState,
  ReconciliationTrigger,
  type GetReconciliationRequest,
  type GetReconciliationResponse,
  type ReconcileSendsRequest,
  type ReconcileSendsResponse,
  type Reconciliation,
} from "../../../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../../shared/errors.ts";
import { optionalText, requireText, requireWorkspaceId } from "../../shared/validation.ts";
import { timestampFromUs, usFromTimestamp } from "../send-mapping.ts";
import type { ReconciliationRun, RunRepository, RunState, RunTrigger } from "./run-repository.ts";
import { startRun, type StartRunDeps } from "./start-run.ts";

/** What the two RPCs need; undefined when the instance has no SECRETS_KEY. */
export interface ReconcileRpcDeps {
  runs: RunRepository;
  start: StartRunDeps;
}

const stateOf: Record<RunState, ReconciliationState> = {
  running: ReconciliationState.RUNNING,
  succeeded: ReconciliationState.SUCCEEDED,
  failed: ReconciliationState.FAILED,
};

const triggerOf: Record<RunTrigger, ReconciliationTrigger> = {
  manual: ReconciliationTrigger.MANUAL,
  silence: ReconciliationTrigger.SILENCE,
  sweep: ReconciliationTrigger.SWEEP,
};

export function toReconciliationMessage(run: ReconciliationRun): Reconciliation {
  return create(ReconciliationSchema, {
    reconciliationId: run.runId,
    workspaceId: run.workspaceId,
    campaignId: run.selection.campaignId ?? "",
    sinceTime: timestampFromUs(run.selection.sinceUs),
    untilTime: timestampFromUs(run.selection.untilUs),
    trigger: triggerOf[run.trigger],
    state: stateOf[run.state],
    total: BigInt(run.total),
    checked: BigInt(run.checked),
    changed: BigInt(run.changed),
    unchanged: BigInt(run.unchanged),
    failed: BigInt(run.failed),
    failures: run.failures.map((failure) => ({ reason: failure.reason, count: BigInt(failure.count), exampleEmailId: failure.exampleEmailId })),
    eventsPublished: BigInt(run.eventsPublished),
    stopReason: run.stopReason,
    createTime: timestampFromUs(run.createdAtMs * 1000),
    updateTime: timestampFromUs(run.updatedAtMs * 1000),
    finishTime: timestampFromUs(run.finishedAtMs === undefined ? undefined : run.finishedAtMs * 1000),
    unsettledOnly: run.selection.unsettledOnly,
    recordedSinceTime: timestampFromUs(run.selection.recordedSinceUs),
    recordedUntilTime: timestampFromUs(run.selection.recordedUntilUs),
  });
}

function available(deps: ReconcileRpcDeps | undefined): ReconcileRpcDeps {
  if (!deps) throw new FailedPreconditionError("reconciliation is off on this instance: delivery-status needs SECRETS_KEY (the gateway's) to open API keys");
  return deps;
}

export async function reconcileSends(deps: ReconcileRpcDeps | undefined, req: ReconcileSendsRequest): Promise<ReconcileSendsResponse> {
  const workspaceId = requireWorkspaceId(req.workspaceId);
  const campaignId = optionalText(req.campaignId, "campaign_id");
  const sinceUs = req.sinceTime ? usFromTimestamp(req.sinceTime) : undefined;
  const untilUs = req.untilTime ? usFromTimestamp(req.untilTime) : undefined;
  if (sinceUs !== undefined && untilUs !== undefined && untilUs <= sinceUs) throw new InvalidArgumentError("until_time", "must be after since_time");
  const started = await startRun(available(deps).start, {
    workspaceId,
    trigger: "manual",
    selection: { ...(campaignId ? { campaignId } : {}), ...(sinceUs !== undefined ? { sinceUs } : {}), ...(untilUs !== undefined ? { untilUs } : {}), unsettledOnly: false },
  });
  return create(ReconcileSendsResponseSchema, { reconciliationId: started.runId, alreadyRunning: started.alreadyRunning });
}

export async function getReconciliation(deps: ReconcileRpcDeps | undefined, req: GetReconciliationRequest): Promise<GetReconciliationResponse> {
  const workspaceId = requireWorkspaceId(req.workspaceId);
  const runId = requireText(req.reconciliationId, "reconciliation_id", 128);
  const run = await available(deps).runs.get(workspaceId, runId);
  if (!run) throw new NotFoundError(`reconciliation ${runId}`);
  return create(GetReconciliationResponseSchema, { reconciliation: toReconciliationMessage(run) });
}
