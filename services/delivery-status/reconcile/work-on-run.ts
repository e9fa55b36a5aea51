/**
 * Working on a reconciliation run — the story:
 * 1. open the workspace's Resend API key (none, or one SECRETS_KEY cannot open: the run stops with that reason);
 * 2. take the selected sends page by page in email id order, after the run's cursor;
 * 3. for each, ask Resend (GET /emails/{id}, at the key's rate, 429s and 5xx retried by the client), work
 *    out the events its `last_event` implies that the send has not seen, and publish them as
 *    reconstructed events on RESEND_EVENTS — all three services apply them through their usual
 *    idempotent paths;
 * 4. save the cursor and the counts together (and renew the lease) after every send: a run resumed after
 *    a crash re-checks at most the one send in flight, whose events carry the same message ids again;
 * 5. a refused key (401/403) stops the run with that reason; when no send is left, it succeeded.
 * It lets go when the instance stops (`stopping`) or another instance took the run over (a lost lease).
 */
import type { ResendEvent } from "../../../gen/ngsreach/events/v1/resend_event_pb.ts";
import { reconstructedEvent } from "../../shared/reconstructed-events.ts";
import { SecretUndecryptableError } from "../../shared/secret-box.ts";
import type { ApiKeyRepository } from "../api-key-repository.ts";
import type { SendsRepository, StoredSend } from "../sends-repository.ts";
import { missingEvents } from "./missing-events.ts";
import type { KeyRateLimiter } from "./rate-limiter.ts";
import { ResendApi, ResendApiError, ResendAuthError } from "./resend-api.ts";
import { maxFailureReasons, type ReconciliationRun, type RunRepository } from "./run-repository.ts";

export interface WorkOnRunDeps {
  runs: RunRepository;
  sends: SendsRepository;
  apiKeys: Pick<ApiKeyRepository, "find">;
  limiter: KeyRateLimiter;
  apiBaseUrl: string;
  /** Publishes one event on RESEND_EVENTS with its message id; throws when JetStream did not acknowledge. */
  publish(event: ResendEvent): Promise<void>;
  leaseMs: number;
  now(): number;
  /** Aborted when the instance stops. */
  stopping: AbortSignal;
  /** Told of every send checked (metrics). */
  onChecked?(outcome: "changed" | "unchanged" | "failed", eventsPublished: number): void;
}

/** How a run ended on this instance: finished, or left for another instance (or a restart) to go on with. */
export type RunOutcome = "succeeded" | "failed" | "released" | "lost";

const pageSize = 25;

/** Works on a run this instance claimed until it ends or the instance lets it go. */
export async function workOnRun(deps: WorkOnRunDeps, claimed: ReconciliationRun): Promise<RunOutcome> {
  const run = { ...claimed, failures: [...claimed.failures] };
  let api: ResendApi;
  try {
    const key = await deps.apiKeys.find(run.workspaceId, "resend");
    if (!key) return await stop(deps, run, "no Resend API key is set for the workspace (ngsreach apikey set)");
    api = new ResendApi({ baseUrl: deps.apiBaseUrl, apiKey: key.apiKey, limiter: deps.limiter });
  } catch (error) {
    if (error instanceof SecretUndecryptableError) return await stop(deps, run, `the Resend API key cannot be opened: ${error.message}`);
    throw error;
  }
  for (;;) {
    const page = await deps.sends.listForReconciliation(run.workspaceId, run.selection, run.cursor, pageSize);
    if (page.length === 0) return (await deps.runs.finish(run, "succeeded", "", deps.now())) ? "succeeded" : "lost";
    for (const send of page) {
      if (deps.stopping.aborted) {
        await deps.runs.release(run);
        return "released";
      }
      const checkedBefore = run.checked;
      let published = 0;
      let outcome: "changed" | "unchanged" | "failed";
      try {
        published = await reconcileSend(deps, api, run, send);
        outcome = published > 0 ? "changed" : "unchanged";
      } catch (error) {
        if (error instanceof ResendAuthError) return await stop(deps, run, error.message);
        if (!(error instanceof ResendApiError) && !(error instanceof NotAtResendError)) throw error;
        outcome = "failed";
        countFailure(run, error.message, send.emailId);
      }
      run[outcome]++;
      run.eventsPublished += published;
      deps.onChecked?.(outcome, published);
      run.checked++;
      run.cursor = send.emailId;
      if (!(await deps.runs.save(run, checkedBefore, deps.now(), deps.leaseMs))) return "lost";
    }
  }
}

class NotAtResendError extends Error {
  constructor() {
    super("not found at Resend (GET /emails/{id} answered 404)");
  }
}

/** Publishes what Resend knows about the send beyond what it shows; how many events that took. */
async function reconcileSend(deps: WorkOnRunDeps, api: ResendApi, run: ReconciliationRun, send: StoredSend): Promise<number> {
  const email = await api.getEmail(send.emailId);
  if (!email) throw new NotAtResendError();
  const missing = missingEvents(send.state, email);
  const observedAtMs = deps.now();
  const sentAtMs = Date.parse(email.createdAt);
  for (const event of missing) {
    await deps.publish(
      reconstructedEvent({
        workspaceId: run.workspaceId,
        emailId: send.emailId,
        type: event.type,
        // Resend's created_at, else our own record of the send; never after the observation.
        sentAtMs: Math.min(Number.isNaN(sentAtMs) ? (send.state.sentAtUs ?? observedAtMs * 1000) / 1000 : sentAtMs, observedAtMs),
        observedAtMs,
        reconciliationId: run.runId,
        // An erased send's address must not travel again (Resend still knows it).
        to: send.erased ? [] : email.to.length > 0 ? email.to : send.state.recipient ? [send.state.recipient] : [],
        bounce: event.bounce,
      }),
    );
  }
  return missing.length;
}

function countFailure(run: ReconciliationRun, reason: string, emailId: string): void {
  const known = run.failures.find((failure) => failure.reason === reason);
  if (known) known.count++;
  else if (run.failures.length < maxFailureReasons) run.failures.push({ reason, count: 1, exampleEmailId: emailId });
  else run.failures.at(-1)!.count++;
}

async function stop(deps: WorkOnRunDeps, run: ReconciliationRun, reason: string): Promise<RunOutcome> {
  return (await deps.runs.finish(run, "failed", reason, deps.now())) ? "failed" : "lost";
}
