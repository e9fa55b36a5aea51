/**
 * The suppression service's own part of an erasure (its `suppression-erasures` consumer): each address's
 * document moves to the address's pseudonym (erased-state.ts: facts and suppression kept, subscriber id
 * and notes dropped, suppressed "erased" if it was not), and the send records forget the recipient.
 *
 * Per address, under its lock and safe against other instances: publish what the document still owes
 * (its outbox events name the address; they are announced before it goes), insert the erased copy unless
 * one exists, read the address again, then delete its document only if it is still the version read — a
 * concurrent change makes the delete fail and the loop start over with the changed document (the copy
 * already exists; its suppression is lasting, so what the change added cannot lift it).
 * Idempotent: a redelivered request finds no document of the address and an erased copy, and changes
 * nothing.
 */
import type { ErasureRequested } from "../../../gen/ngsreach/events/v1/domain_events_pb.ts";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { UnavailableError } from "../../shared/errors.ts";
import { newSubscriber } from "../subscriber-state.ts";
import type { SuppressionDeps } from "../use-cases/deps.ts";
import type { AddressHasher } from "./address-hash.ts";
import { erasedState, type ErasureStamp } from "./erased-state.ts";

const maxAttempts = 10;

/** Erases every address of the request; resolves with how many documents changed. */
export async function eraseAddresses(deps: SuppressionDeps, request: ErasureRequested): Promise<number> {
  const hasher = deps.hasher;
  if (!hasher) throw new UnavailableError("an erasure request arrived but this instance has no SECRETS_KEY; retried until it has");
  const stamp: ErasureStamp = {
    erasureId: request.erasureId,
    actor: "erasure",
    atMs: request.requestedTime ? timestampMs(request.requestedTime) : deps.now(),
  };
  let changed = 0;
  const pseudonyms = new Map<string, string>();
  for (const email of request.emails) {
    const { pseudonym, documents } = await eraseAddress(deps, hasher, request.workspaceId, email, stamp);
    pseudonyms.set(email, pseudonym);
    changed += documents;
  }
  changed += await deps.sends.forgetRecipients(request.workspaceId, pseudonyms, request.subscriberId);
  return changed;
}

/** Erases one address; resolves with the pseudonym it is kept under and how many documents changed. */
async function eraseAddress(
  deps: SuppressionDeps,
  hasher: AddressHasher,
  workspaceId: string,
  email: string,
  stamp: ErasureStamp,
): Promise<{ pseudonym: string; documents: number }> {
  return await deps.lock.run(`subscriber:${workspaceId}:${email}`, async () => {
    let changed = 0;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const stored = await deps.subscribers.get(workspaceId, email);
      if (stored && stored.outbox.length > 0) {
        await deps.outbox.flush(workspaceId, email, stored.outbox);
        continue;
      }
      const erased = await deps.subscribers.firstOf(workspaceId, hasher.candidatesOf(workspaceId, email));
      const pseudonym = erased?.state.email ?? hasher.pseudonymOf(workspaceId, email);
      if (!erased) {
        const state = stored?.state ?? newSubscriber(workspaceId, email, stamp.atMs);
        if (await deps.subscribers.insertIfAbsent(erasedState(state, pseudonym, stamp, deps.policy))) changed++;
        // Read the address again now that the copy exists: a writer that inserted the address's first
        // document after our read looked for the copy before we inserted it (change-subscriber.ts
        // erasedMeanwhile) and kept its document. Each of us writes, then reads the other's key, so at
        // least one sees the other; this read is ours.
        continue;
      }
      if (!stored || (await deps.subscribers.deleteAt(workspaceId, email, stored.state.version))) {
        if (stored) changed++;
        await deps.subscribers.forgetOutboxMark(workspaceId, email);
        return { pseudonym, documents: changed };
      }
    }
    throw new UnavailableError(`an address of workspace ${workspaceId} kept changing during its erasure; retried`);
  });
}
