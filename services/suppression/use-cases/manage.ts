/** Manual suppression changes by an operator: audited, announced like any other change. */
import { addManually, removeManually, type Outcome, type Reason } from "../subscriber-state.ts";
import { changeSubscriber } from "./change-subscriber.ts";
import type { SuppressionDeps } from "./deps.ts";

export interface ManualAdd {
  workspaceId: string;
  email: string;
  subscriberId: string;
  reason: Reason;
  actor: string;
  note: string;
}

/** Suppresses an address unless it already is. */
export async function addSuppression(deps: SuppressionDeps, request: ManualAdd): Promise<Outcome> {
  return await changeSubscriber(deps, request.workspaceId, request.email, (state) =>
    addManually(state, { ...request, atMs: deps.now() }, deps.policy),
  );
}

/** Lifts the suppression of an address (and resets its soft-bounce streak) if it has one. */
export async function removeSuppression(
  deps: SuppressionDeps,
  request: { workspaceId: string; email: string; actor: string; note: string },
): Promise<Outcome> {
  return await changeSubscriber(deps, request.workspaceId, request.email, (state) =>
    removeManually(state, { actor: request.actor, note: request.note, atMs: deps.now() }, deps.policy),
  );
}
