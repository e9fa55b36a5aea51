/**
 * Publishes events a crash or an outage left in an outbox, and forgets the
 * marks of documents with nothing left. Runs at start-up and on a timer, on
 * every instance; the per-address lock only keeps it out of this process's own
 * live changes — correctness against other instances rests on the mark's
 * version (subscriber-repository.ts) and on the JetStream message id.
 */
import { newSubscriber } from "../subscriber-state.ts";
import type { PendingOutbox } from "../subscriber-repository.ts";
import { documentOf } from "./change-subscriber.ts";
import type { SuppressionDeps } from "./deps.ts";

async function isErased(deps: SuppressionDeps, workspaceId: string, email: string): Promise<boolean> {
  const { email: key } = await documentOf(deps, workspaceId, email);
  return key !== email;
}

/** One pass; returns how many addresses are still marked (unpublished, or to be looked at again). */
export async function sweepOutbox(deps: SuppressionDeps, batch = 500): Promise<number> {
  let left = 0;
  for (const mark of await deps.subscribers.outboxPending(batch)) {
    const { workspaceId, email } = mark;
    await deps.lock.run(`subscriber:${workspaceId}:${email}`, async () => {
      if (!(await sweepOne(deps, mark))) left++;
    });
  }
  return left;
}

/** True when the address needs no further look. */
async function sweepOne(deps: SuppressionDeps, mark: PendingOutbox): Promise<boolean> {
  const { workspaceId, email } = mark;
  const stored = await deps.subscribers.get(workspaceId, email);
  if (stored && stored.outbox.length > 0) return await deps.outbox.flush(workspaceId, email, stored.outbox);
  if (!stored && (await isErased(deps, workspaceId, email))) {
    // An erasure deleted the document and left this mark: fencing would put the address back.
    await deps.subscribers.forgetOutboxMark(workspaceId, email);
    return true;
  }
  let version = stored?.state.version ?? 0;
  if (version < mark.forVersion) {
    // A writer marked a version the document has not reached: it is between its mark and its save, or
    // died there. Moving the document on makes such a save fail and start over with a fresh mark, so the
    // mark can go. (Absent document: the first save of a fresh one, fenced by inserting it.)
    const fenced = stored
      ? await deps.subscribers.fence(workspaceId, email, version)
      : (await deps.subscribers.save({ ...newSubscriber(workspaceId, email, deps.now()), version: 1 }, [])) === "saved";
    if (!fenced) return false; // it moved meanwhile: the next pass looks again
    version += 1;
  }
  return await deps.subscribers.clearOutboxPending(workspaceId, email, version);
}
