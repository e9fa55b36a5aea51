/**
 * Serialises work per key inside one process. FerretDB v1 runs an update as
 * read-then-write without a transaction, so two concurrent writers of one
 * document could lose an update; the consumers and RPCs of one instance take
 * this lock around each read-decide-write of a document. Across instances the
 * repository's version guard (on MongoDB) does the same job.
 */
export class KeyLock {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `work` after every earlier holder of `key` finished. */
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
}
