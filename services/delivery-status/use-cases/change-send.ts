/**
 * The one way a send document changes: read it, decide, recompute the state
 * from (registration, facts), and write it back only if nobody else wrote in
 * between (version guard) — otherwise read again and redo. Without
 * transactions this is what keeps concurrent consumers and RPCs from losing
 * each other's updates. Within one process writers of a send also queue
 * behind each other (send-locks.ts), because FerretDB v1's guard is not atomic.
 */
import { projectSend, type EventFact, type Registration } from "../send-projection.ts";
import { withSendLock } from "../send-locks.ts";
import { sendKey, type SendsRepository, type StoredSend } from "../sends-repository.ts";

/** What a decision adds to a send. */
export interface SendChange {
  registration?: Registration;
  fact?: EventFact;
  /** Set the SendRecorded outbox flag in the same write. */
  markSendRecordedPending?: boolean;
}

export interface ChangeResult {
  send: StoredSend;
  changed: boolean;
}

const maxAttempts = 50;

/**
 * Applies `decide` to the current send (undefined if none) until the write
 * wins. `decide` returns undefined for "nothing to do" (then the send must
 * exist) and may throw to refuse.
 */
export async function changeSend(
  repo: SendsRepository,
  now: () => number,
  workspaceId: string,
  emailId: string,
  decide: (current: StoredSend | undefined) => SendChange | undefined,
): Promise<ChangeResult> {
  return await withSendLock(sendKey(workspaceId, emailId), () => changeSendUnlocked(repo, now, workspaceId, emailId, decide));
}

async function changeSendUnlocked(
  repo: SendsRepository,
  now: () => number,
  workspaceId: string,
  emailId: string,
  decide: (current: StoredSend | undefined) => SendChange | undefined,
): Promise<ChangeResult> {
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const current = await repo.get(workspaceId, emailId);
    const change = decide(current);
    if (!change) {
      if (!current) throw new Error("changeSend: a decision without a change needs an existing send");
      return { send: current, changed: false };
    }
    const registration = change.registration ?? current?.registration;
    const facts = change.fact ? [...(current?.facts ?? []), change.fact] : (current?.facts ?? []);
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
    const won = current
      ? await repo.replaceIfVersion(next, current.version, change.markSendRecordedPending === true)
      : await repo.insert(next);
    if (won) return { send: next, changed: true };
  }
  // Transient by nature: the consumer naks and retries, an RPC caller sees an error and retries.
  throw new Error(`send ${workspaceId}:${emailId} changed concurrently ${maxAttempts} times in a row`);
}
