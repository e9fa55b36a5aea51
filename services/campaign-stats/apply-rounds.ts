/**
 * Group commit of the campaign, hour, link and day writes of one process.
 *
 * Every batch of events ends by applying its deltas' parts to their documents, and nearly every batch
 * shares one of them with the batches beside it: the workspace-day document every send counts in (the
 * bulk-sender limits), a campaign being sent. Applying them under per-document locks made the batches
 * wait for each other one whole read-confirm-write at a time: at 100 events/s (batches of 1–4) the
 * lock wait was p50 194 ms of the 231 ms from the gateway's receipt to the stats write (bench/e2e).
 * Here the parts of every batch that asks while a round is under way go into the next round, together:
 * one read, one confirmation and one bulk write per collection for all of them, each document written
 * once. Exactness does not depend on it — every document write is guarded by the delta's ref and the
 * version read, as before; a round only decides who writes when.
 *
 * A round that fails while carrying several callers' parts is redone for each caller alone, so one
 * caller's bad part fails only its own batch. A round that has not settled after `maxWaitMs` (a
 * database call left without an answer) no longer holds the others: the next round starts beside it,
 * as a KeyedLock's waiter goes ahead, and what the stuck one may still write is guarded like any write.
 */

export interface RoundsSpec<Input, Result> {
  /** Applies the inputs of several callers in one go. */
  applyTogether(inputs: readonly Input[]): Promise<Result>;
  /** The part of a joint result one caller's input is owed. */
  shareOf(result: Result, input: Input): Result;
  /** How much an input adds to a round (its parts); a round takes inputs up to `maxRoundSize`. */
  sizeOf(input: Input): number;
  maxRoundSize: number;
  maxWaitMs: number;
}

interface Caller<Input, Result> {
  input: Input;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

export class ApplyRounds<Input, Result> {
  readonly #spec: RoundsSpec<Input, Result>;
  readonly #waiting: Caller<Input, Result>[] = [];
  #running = false;

  constructor(spec: RoundsSpec<Input, Result>) {
    this.#spec = spec;
  }

  /** Applies `input` in the next round, with whatever else is waiting then. */
  apply(input: Input): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.#waiting.push({ input, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        const round = this.#takeRound();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#spec.maxWaitMs)));
        await Promise.race([this.#run(round), waited]);
        clearTimeout(timer);
      }
    } finally {
      this.#running = false;
    }
  }

  /** The longest run of waiting callers, in arrival order, within the round size (at least one). */
  #takeRound(): Caller<Input, Result>[] {
    let size = 0;
    let count = 0;
    for (const caller of this.#waiting) {
      size += this.#spec.sizeOf(caller.input);
      if (count > 0 && size > this.#spec.maxRoundSize) break;
      count++;
    }
    return this.#waiting.splice(0, count);
  }

  async #run(round: readonly Caller<Input, Result>[]): Promise<void> {
    try {
      const result = await this.#spec.applyTogether(round.map((caller) => caller.input));
      for (const caller of round) caller.resolve(round.length === 1 ? result : this.#spec.shareOf(result, caller.input));
      return;
    } catch (error) {
      if (round.length === 1) {
        round[0]!.reject(error);
        return;
      }
    }
    for (const caller of round) {
      try {
        caller.resolve(await this.#spec.applyTogether([caller.input]));
      } catch (error) {
        caller.reject(error);
      }
    }
  }
}
