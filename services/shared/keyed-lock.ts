/**
 * In-process mutual exclusion per key (a document id, a send) — an
 * optimisation, never what correctness rests on.
 *
 * Every read-decide-write of a document is guarded by the version it read
 * (MongoDB, and the local FerretDB whose build is patched to be atomic per
 * document, scripts/build-tools.ts): that is what keeps several instances
 * exact. Within one instance, writers of the same document would still lose
 * their guards to each other and read again; queueing them here instead
 * saves those wasted round trips.
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
