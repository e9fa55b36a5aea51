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
 *
 * Between the read and the write, two steps keep a document bounded without
 * losing what it knew (send-retirement.ts): a send that retired facts looks
 * up, after reading the document, which of the svix ids the decision asks
 * about it folded before (their timeline entries say so); and a write taking
 * a document past 100 facts first marks the retired ones folded on their
 * timeline entries, so a redelivery of any of them is still recognised.
 */
import { UnavailableError } from "../../shared/errors.ts";
import { mapLimited } from "../../shared/map-limited.ts";
import { noneRetired, projectSend, type EventFact, type Registration } from "../send-projection.ts";
import { withSendLock, withSendLocks } from "../send-locks.ts";
import { planRetirement, type Retirement } from "../send-retirement.ts";
import { sendKey, type SendsRepository, type StoredSend, type SendWrite } from "../sends-repository.ts";

/** What a decision adds to a send. */
export interface SendChange {
  registration?: Registration;
  facts?: EventFact[];
  /** Set the SendRecorded outbox flag in the same write. */
  markSendRecordedPending?: boolean;
  /** Stores what must be in the database before the write (an erased send's new timeline entries scrubbed); redone with a redo. */
  beforeWrite?: () => Promise<void>;
}

/**
 * Decides the change of the current send (undefined if none): undefined for "nothing to do" (then the
 * send must exist); may throw to refuse. `folded`: those of the change's `svixIds` the send folded
 * although its document no longer keeps their facts.
 */
export type Decide = (current: StoredSend | undefined, folded: ReadonlySet<string>) => SendChange | undefined;

/** One send's change: its key, the decision, and the svix ids the decision asks about (for `folded`). */
export interface SendToChange {
  workspaceId: string;
  emailId: string;
  decide: Decide;
  svixIds?: readonly string[];
}

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
  svixIds: readonly string[] = [],
): Promise<ChangeResult> {
  const change = { workspaceId, emailId, decide, svixIds };
  return await withSendLock(sendKey(workspaceId, emailId), async () => {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const [outcome] = await decideWrites(repo, now, [change], [await repo.get(workspaceId, emailId)]);
      if (!outcome!.write || (await repo.writeMany([outcome!.write]))) return outcome!.result;
    }
    // Transient by nature: the consumer retries without limit, an RPC caller is told Unavailable and retries.
    throw new UnavailableError(`send ${workspaceId}:${emailId} changed concurrently ${maxAttempts} times in a row`);
  });
}

/** changeSend for several different sends: one read each, one bulk write; results in order. */
export async function changeSends(repo: SendsRepository, now: () => number, changes: readonly SendToChange[]): Promise<ChangeResult[]> {
  const inOneWrite = await withSendLocks(
    changes.map(({ workspaceId, emailId }) => sendKey(workspaceId, emailId)),
    async () => {
      const outcomes = await decideWrites(repo, now, changes, await repo.getMany(changes));
      const writes = outcomes.flatMap((outcome) => (outcome.write ? [outcome.write] : []));
      return (await repo.writeMany(writes)) ? outcomes.map((outcome) => outcome.result) : undefined;
    },
  );
  return (
    inOneWrite ??
    (await mapLimited(changes, 16, ({ workspaceId, emailId, decide, svixIds }) => changeSend(repo, now, workspaceId, emailId, decide, svixIds)))
  );
}

interface Outcome {
  result: ChangeResult;
  write?: SendWrite;
}

/**
 * The decisions on the sends just read (`current`, in order) and the writes that store them, after what
 * must be in the database before those writes: the facts they retire marked folded. The lookup of folded
 * svix ids comes after the read of the document: a fact retired before that read was marked before it.
 */
async function decideWrites(
  repo: SendsRepository,
  now: () => number,
  changes: readonly SendToChange[],
  current: readonly (StoredSend | undefined)[],
): Promise<Outcome[]> {
  const reads = changes.map((change, index) => ({ ...change, send: current[index] }));
  const folded = await mapLimited(reads, 16, async ({ workspaceId, emailId, svixIds = [], send }): Promise<ReadonlySet<string>> => {
    // A send that never retired a fact keeps every fact it folded: what is not on it was not folded.
    if (!send || send.timelinePages === 0) return new Set<string>();
    const onDocument = new Set(send.facts.map((fact) => fact.svixId));
    return await repo.foldedEvents(workspaceId, emailId, [...new Set(svixIds)].filter((svixId) => !onDocument.has(svixId)));
  });
  const decided = changes.map(({ workspaceId, emailId, decide }, index) =>
    decideWrite(workspaceId, emailId, current[index], (send) => decide(send, folded[index]!), now),
  );
  await mapLimited(decided, 4, async ({ outcome, retirement, beforeWrite }) => {
    const { send } = outcome.result;
    if (retirement) await repo.retireFacts(send.workspaceId, send.emailId, send.timelinePages - 1, retirement.retired);
    await beforeWrite?.();
  });
  return decided.map(({ outcome }) => outcome);
}

/** The send after the decided change, the write that stores it (none when nothing changes) and what it retires. */
function decideWrite(
  workspaceId: string,
  emailId: string,
  current: StoredSend | undefined,
  decide: (current: StoredSend | undefined) => SendChange | undefined,
  now: () => number,
): { outcome: Outcome; retirement?: Retirement; beforeWrite?: () => Promise<void> } {
  const change = decide(current);
  if (!change) {
    if (!current) throw new Error("changeSend: a decision without a change needs an existing send");
    return { outcome: { result: { send: current, changed: false } } };
  }
  const registration = change.registration ?? current?.registration;
  const stored = current?.facts ?? [];
  const added = [...stored, ...(change.facts ?? [])];
  const retirement = planRetirement(stored, added, current?.retired ?? noneRetired);
  const facts = retirement?.kept ?? added;
  const retired = retirement?.counts ?? current?.retired ?? noneRetired;
  const next: StoredSend = {
    workspaceId,
    emailId,
    version: current ? current.version + 1 : 1,
    registration,
    facts,
    retired,
    timelinePages: (current?.timelinePages ?? 0) + (retirement ? 1 : 0),
    state: projectSend(registration, facts, retired),
    updatedAtMs: now(),
    pendingSendRecorded: (current?.pendingSendRecorded ?? false) || change.markSendRecordedPending === true,
    ...(current?.erased ? { erased: current.erased } : {}),
  };
  const write: SendWrite = { send: next, expectedVersion: current?.version, markSendRecordedPending: change.markSendRecordedPending === true };
  return { outcome: { result: { send: next, changed: true }, write }, retirement, beforeWrite: change.beforeWrite };
}
