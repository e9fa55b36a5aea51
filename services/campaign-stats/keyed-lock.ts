/**
 * In-process mutual exclusion per key. FerretDB v1 executes an update as
 * "read the document, change it, write it back" with no lock in between
 * (measured: 200 concurrent `$inc` on one document left 12; a guarded update
 * `{_id, applied: {$ne: x}}` passed twice out of 20 concurrent tries), so
 * every read-modify-write of one document is serialised here.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` when no other `run` of the same key is in progress. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
