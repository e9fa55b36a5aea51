/**
 * Publishes events a crash or an outage left in an outbox. Runs at start-up
 * and on a timer; takes the per-address lock so it never races a live change.
 */
import type { SuppressionDeps } from "./deps.ts";

/** One pass; returns how many addresses still hold unpublished events. */
export async function sweepOutbox(deps: SuppressionDeps, batch = 500): Promise<number> {
  let left = 0;
  for (const [workspaceId, email] of await deps.subscribers.outboxPending(batch)) {
    await deps.lock.run(`subscriber:${workspaceId}:${email}`, async () => {
      const stored = await deps.subscribers.get(workspaceId, email);
      const entries = stored?.outbox ?? [];
      if (entries.length === 0) {
        await deps.subscribers.clearOutboxPending(workspaceId, email);
        return;
      }
      if (!(await deps.outbox.flush(workspaceId, email, entries))) left++;
    });
  }
  return left;
}
