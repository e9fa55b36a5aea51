/**
 * `ngsreach reconcile`: starts a reconciliation run (DeliveryStatusService.ReconcileSends) or follows one
 * (--id), polling GetReconciliation: a progress bar redrawn in place on a terminal, a line per tenth
 * otherwise; then the result. Exit 0 when the run succeeded, 1 when it stopped (the reason is printed).
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { DeliveryStatusService, ReconciliationState, ReconciliationTrigger, type Reconciliation } from "../gen/ngsreach/delivery/v1/delivery_status_pb.ts";
import { requireFlag, timeFlag, type CommandLine } from "./command-line.ts";
import { serviceClient } from "./endpoints.ts";

const pollMs = 500;

const triggerName: Record<number, string> = {
  [ReconciliationTrigger.MANUAL]: "manual",
  [ReconciliationTrigger.SILENCE]: "webhook silence",
  [ReconciliationTrigger.SWEEP]: "sweep",
};

function progressBar(run: Reconciliation, width = 30): string {
  const total = Number(run.total);
  const checked = Number(run.checked);
  const share = total > 0 ? Math.min(checked / total, 1) : run.state === ReconciliationState.RUNNING ? 0 : 1;
  const filled = Math.round(share * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${checked}/${total} checked, ${run.changed} changed, ${run.failed} failed`;
}

function result(run: Reconciliation): string[] {
  const lines = [
    `reconciliation ${run.reconciliationId} of workspace ${run.workspaceId} (${triggerName[run.trigger] ?? "?"}): ${run.state === ReconciliationState.SUCCEEDED ? "done" : "stopped"}`,
    `  checked    ${run.checked} of ${run.total} selected`,
    `  changed    ${run.changed}   (Resend knew more: ${run.eventsPublished} reconstructed event(s) published)`,
    `  unchanged  ${run.unchanged}`,
    `  failed     ${run.failed}`,
  ];
  for (const failure of run.failures) lines.push(`    ${failure.count} × ${failure.reason} (e.g. ${failure.exampleEmailId})`);
  if (run.stopReason) lines.push(`  stopped: ${run.stopReason}`);
  if (run.finishTime) lines.push(`  finished at ${timestampDate(run.finishTime).toISOString()}`);
  return lines;
}

export async function reconcileCommand(line: CommandLine): Promise<void> {
  const workspaceId = requireFlag(line, "workspace");
  const client = serviceClient(DeliveryStatusService, "delivery-status", line.env);
  let runId = line.flags.id;
  if (runId === undefined) {
    const started = await client.reconcileSends({ workspaceId, campaignId: line.flags.campaign ?? "", sinceTime: timeFlag(line, "since"), untilTime: timeFlag(line, "until") });
    runId = started.reconciliationId;
    console.log(started.alreadyRunning ? `a reconciliation of workspace ${workspaceId} is already running: following ${runId}` : `reconciliation ${runId} started`);
  }
  const terminal = process.stdout.isTTY === true;
  let shownTenth = -1;
  for (;;) {
    const { reconciliation: run } = await client.getReconciliation({ workspaceId, reconciliationId: runId });
    if (!run) throw new Error("GetReconciliation answered without a reconciliation");
    const done = run.state !== ReconciliationState.RUNNING;
    if (terminal) process.stdout.write(`\r\u001b[K${progressBar(run)}${done ? "\n" : ""}`);
    else {
      const tenth = run.total > 0n ? Math.floor((Number(run.checked) * 10) / Number(run.total)) : 0;
      if (tenth !== shownTenth || done) console.log(progressBar(run));
      shownTenth = tenth;
    }
    if (done) {
      for (const text of result(run)) console.log(text);
      if (run.state !== ReconciliationState.SUCCEEDED) process.exitCode = 1;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
