/**
 * The one way a send document changes: read it, decide, recompute the state
 * from (registration, facts), and write it back only if nobody else wrote in
 * between (version guard) — otherwise read again and redo. Without
 * transactions this is what keeps concurrent consumers and RPCs from losing
 * each other's updates. Within one process writers of a send also queue
 * behind each other (send-locks.ts), which saves the redo of a lost guard.
 *
 * `changeSends` does the same for many sends with one read each and one bulk
 * write for all (the consumer's batches); if any write loses, each send is
 * redone alone by `changeSend`, whose decisions are idempotent.
 */
import { UnavailableError } from "../../shared/errors.ts";
import { mapLimited } from "../../shared/map-limited.ts";
import { projectSend, type EventFact, type Registration } from "../send-projection.ts";
import { withSendLock, withSendLocks } from "../send-locks.ts";
import { sendKey, type SendsRepository, type StoredSend, type SendWrite } from "../sends-repository.ts";

/** What a decision adds to a send. */
export interface SendChange {
  registration?: Registration;
  facts?: EventFact[];
  /** Set the SendRecorded outbox flag in the same write. */
  markSendRecordedPending?: boolean;
}

/**
 * Decides the change of the current send (undefined if none): undefined for "nothing to do" (then the
 * send must exist); may throw to refuse.
 */
export type Decide = (current: StoredSend | undefined) => SendChange | undefined;

export interface ChangeResult {
  send: StoredSend;
  changed: boolean;
}

const maxAttempts = 50;

/** Applies `decide` to the current send until the write wins. */
export async function changeSend(
  repo: SendsRepository,
  now: () => number,
  workspaceId: string,
  emailId: string,
  decide: Decide,
): Promise<ChangeResult> {
  return await withSendLock(sendKey(workspaceId, emailId), async () => {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const current = await repo.get(workspaceId, emailId);
      const outcome = decideWrite(workspaceId, emailId, current, decide, now);
      if (!outcome.write || (await repo.writeMany([outcome.write]))) return outcome.result;
    }
    // Transient by nature: the consumer retries without limit, an RPC caller is told Unavailable and retries.
    throw new UnavailableError(`send ${workspaceId}:${emailId} changed concurrently ${maxAttempts} times in a row`);
  });
}

/** changeSend for several different sends: one read each, one bulk write; results in order. */
export async function changeSends(
  repo: SendsRepository,
  now: () => number,
  changes: readonly { workspaceId: string; emailId: string; decide: Decide }[],
): Promise<ChangeResult[]> {
  const inOneWrite = await withSendLocks(
    changes.map(({ workspaceId, emailId }) => sendKey(workspaceId, emailId)),
    async () => {
      const current = await repo.getMany(changes);
      const outcomes = changes.map(({ workspaceId, emailId, decide }, index) => decideWrite(workspaceId, emailId, current[index], decide, now));
      const writes = outcomes.flatMap((outcome) => (outcome.write ? [outcome.write] : []));
      return (await repo.writeMany(writes)) ? outcomes.map((outcome) => outcome.result) : undefined;
    },
  );
  return inOneWrite ?? (await mapLimited(changes, 16, ({ workspaceId, emailId, decide }) => changeSend(repo, now, workspaceId, emailId, decide)));
}

/** The send after the decided change and the write that stores it (none when nothing changes). */
function decideWrite(
  workspaceId: string,
  emailId: string,
  current: StoredSend | undefined,
  decide: Decide,
  now: () => number,
): { result: ChangeResult; write?: SendWrite } {
  const change = decide(current);
  if (!change) {
    if (!current) throw new Error("changeSend: a decision without a change needs an existing send");
    return { result: { send: current, changed: false } };
  }
  const registration = change.registration ?? current?.registration;
  const facts = [...(current?.facts ?? []), ...(change.facts ?? [])];
  const next: StoredSend = {
    workspaceId,
    emailId,
    version: current ? current.version + 1 : 1,
    registration,
    facts,
    state: projectSend(registration, facts),
    updatedAtMs: now(),
    pendingSendRecorded: (current?.pendingSendRecorded ?? false) || change.markSendRecordedPending === true,
  };
  const write: SendWrite = { send: next, expectedVersion: current?.version, markSendRecordedPending: change.markSendRecordedPending === true };
  return { result: { send: next, changed: true }, write };
}
