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
  readonly #tails = new Map<string, Turn>();
  readonly #maxWaitMs: number;

  /**
   * `maxWaitMs`: how long a run waits for the one before it, counted from when that one began. A holder
   * whose work never settles (a database call left without an answer; consumer.ts gives up on its message
   * and retries it) would otherwise hold its key in this process for good, and every later writer of that
   * document with it. Going ahead after the wait costs at most a lost version guard and a redo.
   */
  constructor({ maxWaitMs = 10_000 }: { maxWaitMs?: number } = {}) {
    this.#maxWaitMs = maxWaitMs;
  }

  /** Runs `work` after every earlier `run` of the same key finished (or ran `maxWaitMs` without finishing). */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    const mine = new Turn();
    this.#tails.set(key, mine);
    if (previous) {
      await previous.started;
      await waitAtMost(previous.finished, this.#maxWaitMs);
    }
    mine.start();
    try {
      return await work();
    } finally {
      mine.finish();
      if (this.#tails.get(key) === mine) this.#tails.delete(key);
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

/** One run's place in its key's queue: when it began its work, and when it finished. */
class Turn {
  readonly started: Promise<void>;
  readonly finished: Promise<void>;
  start!: () => void;
  finish!: () => void;
  constructor() {
    this.started = new Promise<void>((resolve) => (this.start = resolve));
    this.finished = new Promise<void>((resolve) => (this.finish = resolve));
  }
}

/** Resolves when `promise` does or after `ms`, whichever comes first. */
async function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
