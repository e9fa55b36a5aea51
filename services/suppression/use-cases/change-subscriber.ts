/**
 * The one way a subscriber document changes: read it, let a pure rule decide,
 * and store the new state together with the outbox entry of its transition in
 * one version-guarded write, starting over when another writer (any instance)
 * got there first; then publish the outbox. The per-address lock only spares
 * this process's own writers those retries.
 */
import { UnavailableError } from "../../shared/errors.ts";
import { outboxEntry } from "../outbox.ts";
import { isPseudonym } from "../erasure/address-hash.ts";
import { withoutPersonalData } from "../erasure/erased-state.ts";
import type { StoredSubscriber } from "../subscriber-repository.ts";
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
  address: string,
  decide: (state: SubscriberState) => Outcome,
  alsoPublish?: (next: SubscriberState) => string[],
): Promise<Outcome> {
  return await deps.lock.run(`subscriber:${workspaceId}:${address}`, async () => {
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const { stored, email } = await documentOf(deps, workspaceId, address);
      const current = stored?.state ?? newSubscriber(workspaceId, email, deps.now());
      const outcome = decide(current);
      // An erased address's document never takes personal data again (a send record's subscriber id, a note).
      if (outcome.changed && isPseudonym(email)) outcome.state = withoutPersonalData(outcome.state);
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
        if (next.version === 1 && (await erasedMeanwhile(deps, workspaceId, email, next.version))) continue;
        outcome.state = next;
      }
      if (outbox.length > 0) await deps.outbox.flush(workspaceId, email, outbox);
      return outcome;
    }
    throw new UnavailableError(`a subscriber of workspace ${workspaceId} kept changing under us; retry`);
  });
}

/**
 * The document an address's changes go to: its own, or — when it has none and was erased — its
 * pseudonym's (erasure/address-hash.ts). `email` is the key to write under.
 */
export async function documentOf(
  deps: SuppressionDeps,
  workspaceId: string,
  address: string,
): Promise<{ stored: StoredSubscriber | undefined; email: string }> {
  const stored = await deps.subscribers.get(workspaceId, address);
  if (stored || !deps.hasher || isPseudonym(address)) return { stored, email: address };
  const erased = await deps.subscribers.firstOf(workspaceId, deps.hasher.candidatesOf(workspaceId, address));
  return erased ? { stored: erased, email: erased.state.email } : { stored: undefined, email: address };
}

/**
 * A first document of an address was just inserted: if an erasure of the address (another instance's)
 * finished between our read and our insert, the new document must not stay — it is deleted before its
 * outbox is published (the address would be in the event) and the change is applied again, to the
 * erased copy.
 */
async function erasedMeanwhile(deps: SuppressionDeps, workspaceId: string, email: string, version: number): Promise<boolean> {
  if (!deps.hasher || isPseudonym(email)) return false;
  const erased = await deps.subscribers.firstOf(workspaceId, deps.hasher.candidatesOf(workspaceId, email));
  if (!erased) return false;
  await deps.subscribers.deleteAt(workspaceId, email, version);
  await deps.subscribers.forgetOutboxMark(workspaceId, email);
  return true;
}
