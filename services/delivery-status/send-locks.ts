/**
 * Per-send serialisation inside one process.
 *
 * Measured (bench/delivery-status/ferret-cas.ts): FerretDB v1 evaluates an
 * update's filter and writes the result without isolation, so concurrent
 * `updateOne({_id, version})` calls can all "win", and even concurrent `$inc`
 * or `$addToSet` on one document lose updates. The version guard is what keeps
 * concurrent writers correct on MongoDB (also across instances); this lock is
 * what keeps them correct on FerretDB within one instance.
 *
 * So EVERY write to a send document runs under its lock, small ones included:
 * FerretDB v1 executes any update — whatever its filter or operator — as a
 * SELECT of the whole document, the operators applied in Go, then an UPDATE
 * of the whole document in a separate transaction (handler/msg_update.go →
 * common.UpdateDocument → sqlite collection.UpdateAll). An unlocked `$unset`
 * of the outbox flag therefore wrote back a stale copy and erased a fact
 * (bench/delivery-status/lost-update-stress.ts).
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
