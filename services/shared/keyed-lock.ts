/**
 * In-process mutual exclusion per key (a document id, a send).
 *
 * Why every service needs it: FerretDB v1 executes an update as "read the
 * whole document, change it in Go, write it back" with no isolation between
 * the read and the write (measured: 50 concurrent `$inc` on one document end
 * at 1-12; guarded updates `{_id, version}` let several racers win). So every
 * write to a document that can be written concurrently — bookkeeping writes
 * such as outbox clears included — runs under that document's lock. On
 * MongoDB the services' version guards also make several instances safe; on
 * FerretDB only one instance per service is exact.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `work` after every earlier `run` of the same key finished. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /**
   * Runs `work` holding the locks of every key. They are taken one by one in sorted order, so two
   * callers holding some keys never wait on each other in a circle.
   */
  async runAll<T>(keys: Iterable<string>, work: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const holding = (index: number): Promise<T> => (index === sorted.length ? work() : this.run(sorted[index]!, () => holding(index + 1)));
    return await holding(0);
  }
}
