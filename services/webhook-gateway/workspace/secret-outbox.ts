/**
 * The outbox of webhook-secret changes. A change is saved in one write with
 * its audit entry (workspace-repository.ts); then every gateway instance is
 * told to drop its cached keys, the entry is recorded (idempotent by its id),
 * and only then it leaves the outbox. A sweep at start-up and on
 * a timer, on every instance, finishes what a crash or an outage left behind:
 * the entry is recorded once, the announcement goes out late (twice at worst,
 * which costs a cache reload).
 */
import type { AuditRecord } from "../../shared/audit.ts";
import type { Logger } from "../../shared/log.ts";
import type { AuditRepository } from "./audit-repository.ts";
import type { WorkspaceRepository } from "./workspace-repository.ts";

export interface SecretOutboxDeps {
  repository: WorkspaceRepository;
  audits: Pick<AuditRepository, "record">;
  /** Tells every gateway instance to drop its cached keys for the workspace; throws when it could not. */
  announce(workspaceId: string): Promise<void>;
  log: Logger;
}

/** How an entry is kept in the workspace document (compared whole when it is removed). */
export const serialiseOutboxEntry = (entry: AuditRecord): string => JSON.stringify(entry);

/**
 * Records and announces the given entries of one workspace, then removes them. Never throws: false
 * when something failed, and what failed stays in the outbox for the sweep.
 */
export async function flushSecretOutbox(deps: SecretOutboxDeps, workspaceId: string, entries: readonly string[]): Promise<boolean> {
  try {
    // Caches first: a stale key verifying is worse than an audit entry recorded a sweep later.
    await deps.announce(workspaceId);
    for (const raw of entries) await deps.audits.record(JSON.parse(raw) as AuditRecord);
    let after: { version: number; left: number } | undefined;
    for (const raw of entries) after = await deps.repository.removeFromOutbox(workspaceId, raw);
    // Entries another change added meanwhile keep the mark: that change (or the sweep) handles them.
    if (after && after.left === 0) await deps.repository.clearOutboxPending(workspaceId, after.version);
    return true;
  } catch (error) {
    deps.log.warn("secret change not yet recorded or announced; the outbox sweep will retry", { workspaceId, error });
    return false;
  }
}

/** One pass over the marked workspaces (at most `batch`); returns how many entries it handled. */
export async function sweepSecretOutbox(deps: SecretOutboxDeps, batch = 500): Promise<number> {
  let handled = 0;
  for (const pending of await deps.repository.pendingOutboxes(batch)) {
    if (pending.outbox.length === 0) await deps.repository.clearOutboxPending(pending.workspaceId, pending.version);
    else if (await flushSecretOutbox(deps, pending.workspaceId, pending.outbox)) handled += pending.outbox.length;
  }
  return handled;
}
