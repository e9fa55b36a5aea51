/**
 * Per-send serialisation inside one process: an optimisation only.
 *
 * What keeps concurrent writers of a send exact — within an instance and
 * across instances — is the version guard of every send write
 * (change-send.ts), atomic on MongoDB and on the local FerretDB, whose build
 * is patched for it (scripts/build-tools.ts; before that, concurrent
 * `updateOne({_id, version})` could all "win" and an `$unset` of the outbox
 * flag wrote back a stale copy, bench/delivery-status/lost-update-stress.ts).
 * Queueing one instance's writers of a send here saves the reads a lost guard
 * would repeat.
 */
import { KeyedLock } from "../shared/keyed-lock.ts";

const sends = new KeyedLock();

/** Runs `work` after every earlier call with the same key finished. */
export function withSendLock<T>(key: string, work: () => Promise<T>): Promise<T> {
  return sends.run(key, work);
}

/** Runs `work` holding the locks of every key (taken in sorted order: two batches never wait on each other in a circle). */
export function withSendLocks<T>(keys: Iterable<string>, work: () => Promise<T>): Promise<T> {
  return sends.runAll(keys, work);
}
