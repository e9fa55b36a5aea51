/**
 * The one way a subscriber document changes: read it, let a pure rule decide,
 * and store the new state together with the outbox entry of its transition in
 * one version-guarded write, starting over when another writer (any instance)
 * got there first; then publish the outbox. The per-address lock only spares
 * this process's own writers those retries.
 */
import { UnavailableError } from "../../shared/errors.ts";
import { outboxEntry } from "../outbox.ts";
import { newSubscriber, type Outcome, type SubscriberState } from "../subscriber-state.ts";
import type { SuppressionDeps } from "./deps.ts";

const maxAttempts = 5;

/**
 * Applies `decide` to the stored (or a fresh) state of one address; returns the outcome. `alsoPublish`
 * gives further outbox entries (an operator's audit entry) to store with a change, if one is stored.
 */
export async function changeSubscriber(
  deps: SuppressionDeps,
  workspaceId: string,
  email: string,
  decide: (state: SubscriberState) => Outcome,
  alsoPublish?: (next: SubscriberState) => string[],
): Promise<Outcome> {
  return await deps.lock.run(`subscriber:${workspaceId}:${email}`, async () => {
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const stored = await deps.subscribers.get(workspaceId, email);
      const current = stored?.state ?? newSubscriber(workspaceId, email, deps.now());
      const outcome = decide(current);
      let outbox = stored?.outbox ?? [];
      if (outcome.changed) {
        const next: SubscriberState = { ...outcome.state, version: current.version + 1 };
        const entries = [...(outcome.transition ? [outboxEntry(next, outcome.transition)] : []), ...(alsoPublish?.(next) ?? [])];
        if (entries.length > 0) {
          outbox = [...outbox, ...entries];
          // Marked first, so the sweep finds the document even if we stop right after the save.
          await deps.subscribers.markOutboxPending(workspaceId, email, next.version, deps.now());
        }
        if ((await deps.subscribers.save(next, outbox)) === "conflict") continue;
        outcome.state = next;
      }
      if (outbox.length > 0) await deps.outbox.flush(workspaceId, email, outbox);
      return outcome;
    }
    throw new UnavailableError(`subscriber ${workspaceId}:${email} kept changing under us; retry`);
  });
}
