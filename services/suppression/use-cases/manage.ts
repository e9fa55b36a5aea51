/**
 * Manual suppression changes by an operator: announced like any other change,
 * and audited — each stored change carries an audit entry (who called, who
 * asked, why, which address) in the same outbox write, so it is published
 * exactly when the change is, crash or not.
 */
import { randomUUID } from "node:crypto";
import type { AuditActionName } from "../../shared/audit.ts";
import { FailedPreconditionError } from "../../shared/errors.ts";
import { isPseudonym } from "../erasure/address-hash.ts";
import { auditOutboxEntry } from "../outbox.ts";
import { addManually, removeManually, type Outcome, type Reason, type SubscriberState } from "../subscriber-state.ts";
import { changeSubscriber } from "./change-subscriber.ts";
import type { SuppressionDeps } from "./deps.ts";

/** Who asks for a change: the authenticated caller (token name) and the request's free text. */
export interface ManualRequest {
  workspaceId: string;
  email: string;
  caller: string;
  actor: string;
  note: string;
}

export interface ManualAdd extends ManualRequest {
  subscriberId: string;
  reason: Reason;
}

/** The outbox entry auditing a stored change; the address is what changed (never logged). */
const audited = (action: AuditActionName, request: ManualRequest) => (next: SubscriberState) => [
  auditOutboxEntry({
    id: `suppression-${randomUUID()}`,
    workspaceId: next.workspaceId,
    service: "suppression",
    action,
    caller: request.caller,
    actor: request.actor,
    // An erased address's entry names its pseudonym; the operator's note may name the person.
    note: isPseudonym(next.email) ? "" : request.note,
    target: next.email,
    atMs: next.updatedAtMs,
  }),
];

/** Suppresses an address unless it already is. */
export async function addSuppression(deps: SuppressionDeps, request: ManualAdd): Promise<Outcome> {
  return await changeSubscriber(
    deps,
    request.workspaceId,
    request.email,
    (state) => addManually(state, { ...request, atMs: deps.now() }, deps.policy),
    audited("add_suppression", request),
  );
}

/** Lifts the suppression of an address (and resets its soft-bounce streak) if it has one. */
export async function removeSuppression(deps: SuppressionDeps, request: ManualRequest): Promise<Outcome> {
  return await changeSubscriber(
    deps,
    request.workspaceId,
    request.email,
    (state) => {
      // The person asked to be forgotten; lifting would let the address be mailed again.
      if (isPseudonym(state.email)) throw new FailedPreconditionError("the address was erased (EraseSubscriber): its suppression cannot be removed");
      return removeManually(state, { actor: request.actor, note: request.note, atMs: deps.now() }, deps.policy);
    },
    audited("remove_suppression", request),
  );
}
