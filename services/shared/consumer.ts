/**
 * The one JetStream consumer loop and its ack policy, used by every service:
 *
 * - durable pull consumer, explicit acks, created or updated at start-up;
 * - a message is acked only after its handler (and so its database write) finished;
 * - a transient failure (database or NATS unavailable, a timeout, contention;
 *   failures.ts decides) is nak'ed with an exponential delay and retried
 *   without limit — nothing is dropped while a dependency is down;
 * - any other error is a bug or bad input: it is retried with the same capped
 *   backoff, and after `maxAttempts` such failures the message goes to the
 *   dead letters, so a bug ends somewhere visible instead of retrying forever;
 * - a message that can never be processed (undecodable, or the handler throws
 *   PoisonMessageError) goes there at once. A dead letter is a copy in the
 *   DEAD_LETTERS stream with the reason, the attempt count and the consumer's
 *   name; only after the copy is stored is the message terminated;
 * - up to `concurrency` messages are handled at once, each acked on its own.
 *   Handlers are written for that: events arrive in any order anyway, and
 *   every handler's outcome is a function of the set of its events, whichever
 *   instance handles which message, whatever the order (DESIGN.md "Several
 *   instances"). It is what keeps the database busy while each message waits
 *   on round trips (one at a time, campaign-stats applied 72 events/s with
 *   FerretDB idle between requests; bench/e2e);
 * - a consumer that can apply many messages with bulk writes gives
 *   `handleBatch`: the messages that arrived while its slots were busy (at most
 *   `batchSize`) go to one call and are acked together after it resolved. No
 *   message waits for a batch to fill: at a low rate batches are of one. If
 *   the call throws, each message of the batch is handled alone by `handle`
 *   (retry, dead letter and ack per message), so one bad message never holds
 *   back the others and a failed bulk write, whatever it stored, is finished by
 *   idempotent single writes;
 * - a handler (or batch) that has not settled within `handlerTimeoutMs` is
 *   given up on as a transient failure: nak'ed and tried again. A database
 *   operation can wait forever — the driver (mongodb 7.9, no socket timeout,
 *   its operation timeout removed) left an insert written at the moment
 *   FerretDB stopped without an answer or an error, and the message sat
 *   unapplied while kept "in progress" (fault scenario 6 on the cluster, one
 *   run in four). Whatever the stuck call does later is harmless: every write
 *   is idempotent and version-guarded, and the retry does the same.
 */
import { headers as natsHeaders } from "@nats-io/nats-core";
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { PoisonMessageError, UnavailableError } from "./errors.ts";
import { isTransientFailure } from "./failures.ts";
import { mapLimited } from "./map-limited.ts";
import type { Logger } from "./log.ts";
import type { MetricsRegistry } from "./metrics.ts";
import { consumerMetrics } from "./consumer-metrics.ts";
import { ensureConsumer } from "./nats.ts";
import { traceBatch, traceMessage } from "./tracing/nats-spans.ts";
import { failActiveSpan } from "./tracing/spans.ts";

/** Delivery details a handler may use (e.g. for idempotency or logging). */
export interface MessageMeta {
  subject: string;
  streamSequence: number;
  deliveryCount: number;
}

export interface ConsumerSpec<T> {
  /** Durable consumer name; also the dead-letter subject `dead.<name>`. */
  name: string;
  stream: string;
  filterSubjects: string[];
  /** Turns bytes into a message; throwing makes it poison. */
  decode(data: Uint8Array, subject: string): T;
  /** Applies the message; must be idempotent (redelivery happens). Resolving "skipped" says it had nothing to do (metrics). */
  handle(message: T, meta: MessageMeta): Promise<void | "skipped">;
  /** How many messages to keep buffered (default 256). */
  maxMessages?: number;
  /** How long the server waits for an ack before redelivering (default 30 s). */
  ackWaitMs?: number;
  /** Messages (or batches, with handleBatch) handled at the same time (default 16; 8 with handleBatch). */
  concurrency?: number;
  /**
   * Applies several messages in one go (bulk writes); resolving acks them all. Must leave every message
   * in a state `handle` finishes correctly when it throws. `skipped`: how many had nothing to do (metrics).
   */
  handleBatch?(messages: readonly T[]): Promise<void | { skipped: number }>;
  /** Most messages in one `handleBatch` call (default 64). */
  batchSize?: number;
  /** Failures other than transient ones after which a message is dead-lettered (default 10). */
  maxAttempts?: number;
  /** A handler or batch still running after this long is given up on and its messages retried (default 60 s). */
  handlerTimeoutMs?: number;
}

/** Headers on a dead letter; the CLI's replay reads them. */
export const deadLetterHeaders = Object.freeze({
  reason: "Ngs-Dead-Reason",
  consumer: "Ngs-Dead-Consumer",
  stream: "Ngs-Original-Stream",
  subject: "Ngs-Original-Subject",
  sequence: "Ngs-Original-Sequence",
  /** How many times the handler failed on it (1 for a message dead-lettered at once). */
  attempts: "Ngs-Dead-Attempts",
});

export interface RunningConsumer {
  /**
   * Stops pulling (the pull under way ends within `pullExpiresMs`) and finishes every message it brought
   * (handled and acked, so it is not redelivered after a restart); what has not started within `deadlineMs` is nak'ed for another instance or the
   * next start, and counted in the "consumer stopped" log line.
   */
  stop(deadlineMs?: number): Promise<void>;
}

export interface ConsumerDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  log: Logger;
  metrics: MetricsRegistry;
}

/** How long one pull request waits for messages; a stop waits for the current one to end. */
export const pullExpiresMs = 1_000;

/** Retry delay for the n-th delivery: 250 ms doubling, at most 30 s. */
export function retryDelayMs(deliveryCount: number): number {
  return Math.min(30_000, 250 * 2 ** Math.min(10, Math.max(0, deliveryCount - 1)));
}

/** Creates or updates the durable consumer and starts the loop. */
export async function startConsumer<T>(deps: ConsumerDeps, spec: ConsumerSpec<T>): Promise<RunningConsumer> {
  const { js, jsm, log } = deps;
  const config = {
    durable_name: spec.name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subjects: spec.filterSubjects,
    ack_wait: nanos(spec.ackWaitMs ?? 30_000), // kept in step with ackWaitMs below
    max_deliver: -1,
    max_ack_pending: 10_000,
  };
  const info = await ensureConsumer(jsm, spec.stream, config);

  const metrics = consumerMetrics(deps.metrics, spec.name);
  const consumer = js.consumers.getConsumerFromInfo(info);
  let stopping = false;
  let pastDeadline = false;
  /** Messages settled (acked, nak'ed, dead-lettered) so far; the stop log reports those after the signal. */
  let settled = 0;
  /**
   * Messages nak'ed for a retry so far: each comes once more. The stop log reports those since the signal
   * (a version guard lost to another instance while finishing), which otherwise die with the process's metrics.
   */
  let retried = 0;
  const ended = (outcome: "applied" | "skipped" | "retried" | "dead_lettered") => {
    if (outcome === "retried") retried++;
    metrics.ended(outcome);
  };

  const maxAttempts = Math.max(1, spec.maxAttempts ?? 10);
  const handlerTimeoutMs = spec.handlerTimeoutMs ?? 60_000;
  const failures = new FailureCounts();
  const handleOne = async (msg: JsMsg): Promise<void> => {
    const started = performance.now();
    try {
      await traceMessage(spec, msg, () => handleOneUntimed(msg));
    } finally {
      metrics.handled((performance.now() - started) / 1000);
    }
  };
  const handleOneUntimed = async (msg: JsMsg): Promise<void> => {
    const meta = { subject: msg.subject, streamSequence: msg.seq, deliveryCount: msg.info.deliveryCount };
    try {
      const decoded = decodeOrPoison(spec, msg);
      const skipped = (await withinDeadline(spec.handle(decoded, meta), handlerTimeoutMs, spec.name)) === "skipped";
      msg.ack();
      failures.forget(msg.seq);
      ended(skipped ? "skipped" : "applied");
    } catch (error) {
      failActiveSpan(error);
      if (error instanceof PoisonMessageError) {
        ended((await deadLetter(js, spec, msg, error.message, 1, log)) ? "dead_lettered" : "retried");
        return;
      }
      if (isTransientFailure(error)) {
        const delay = retryDelayMs(meta.deliveryCount);
        log.warn("message failed, will retry", { consumer: spec.name, ...meta, delayMs: delay, error });
        msg.nak(delay);
        ended("retried");
        return;
      }
      const attempts = failures.add(msg.seq);
      if (attempts >= maxAttempts) {
        const reason = `${describeError(error)} (failed ${attempts} of ${maxAttempts} attempts)`;
        const stored = await deadLetter(js, spec, msg, reason, attempts, log);
        if (stored) failures.forget(msg.seq);
        ended(stored ? "dead_lettered" : "retried");
        return;
      }
      const delay = retryDelayMs(attempts);
      log.warn("message failed by a bug or bad input, will retry", { consumer: spec.name, ...meta, attempts, maxAttempts, delayMs: delay, error });
      msg.nak(delay);
      ended("retried");
    }
  };

  /** Handles decodable messages with one `handleBatch` call; falls back to one by one if it throws. */
  const handleBatch = async (batch: JsMsg[]): Promise<void> => {
    const decoded: { msg: JsMsg; message: T }[] = [];
    const alone: JsMsg[] = [];
    for (const msg of batch) {
      try {
        decoded.push({ msg, message: decodeOrPoison(spec, msg) });
      } catch {
        alone.push(msg); // handleOne dead-letters it
      }
    }
    await Promise.all(alone.map(handleOne));
    if (decoded.length === 0) return;
    const started = performance.now();
    let skipped = 0;
    try {
      const applied = await traceBatch(spec, decoded.map((entry) => entry.msg), () =>
        withinDeadline(spec.handleBatch!(decoded.map((entry) => entry.message)), handlerTimeoutMs, spec.name),
      );
      skipped = Math.min(decoded.length, applied?.skipped ?? 0);
    } catch (error) {
      metrics.batch((performance.now() - started) / 1000, decoded.length, true);
      log.warn("batch failed, handling its messages one by one", { consumer: spec.name, size: decoded.length, error });
      await mapLimited(decoded, limit, (entry) => handleOne(entry.msg));
      return;
    }
    for (const { msg } of decoded) msg.ack();
    const seconds = (performance.now() - started) / 1000;
    metrics.batch(seconds, decoded.length, false);
    metrics.handled(seconds / decoded.length, decoded.length);
    metrics.ended("applied", decoded.length - skipped);
    if (skipped > 0) metrics.ended("skipped", skipped);
  };

  // Fewer slots when batching: messages that wait for a slot are what forms a batch. With 16 slots a
  // paced 80 events/s went one message per call, at the unbatched cost per event, and queued (p99 1.1–1.7 s,
  // bench/e2e); with 8, 160–180 events/s applied and p99 under 0.4 s at half that rate.
  const limit = Math.max(1, spec.concurrency ?? (spec.handleBatch ? 8 : 16));
  const batchSize = spec.handleBatch ? Math.max(1, spec.batchSize ?? 64) : 1;
  const waiting: JsMsg[] = [];
  const inHand = new Set<Promise<void>>();
  let startScheduled = false;
  /**
   * Pulled and not settled yet, with when each came. One held longer than `keepAliveMs` is reported "in
   * progress" every `keepAliveMs`, so a message held up behind a slow or frozen database is not redelivered
   * to another instance (to be held up there too, and applied twice over by idempotent writes) — for at most
   * ten ack waits, after which a handler that may be hung lets the server give it to someone else. Every 2 s
   * at most, as an operator may have shortened the consumer's ack wait on the server.
   */
  const held = new Map<JsMsg, number>();
  const ackWaitMs = spec.ackWaitMs ?? 30_000;
  const keepAliveMs = Math.min(ackWaitMs / 3, 2000);
  const keepAlive = setInterval(() => {
    const now = Date.now();
    for (const [msg, since] of held) if (now - since >= keepAliveMs && now - since < 10 * ackWaitMs) msg.working();
  }, keepAliveMs);
  /** Gives every free slot the messages waiting now: one to `handleOne`, several to `handleBatch`. */
  const startWork = () => {
    startScheduled = false;
    while (!pastDeadline && inHand.size < limit && waiting.length > 0) {
      const taken = waiting.splice(0, batchSize);
      // Neither rejects: every outcome ends in ack, nak or a dead letter.
      const task: Promise<void> = (taken.length === 1 ? handleOne(taken[0]!) : handleBatch(taken)).finally(() => {
        for (const msg of taken) held.delete(msg);
        settled += taken.length;
        inHand.delete(task);
        startWork();
      });
      inHand.add(task);
    }
  };
  /** Messages nak'ed at a stop because they had not started by its deadline. */
  let returned = 0;
  const deadline = { reached: new Promise<void>(() => undefined), timer: undefined as ReturnType<typeof setTimeout> | undefined };
  const loop = (async () => {
    while (!stopping) {
      try {
        // One pull request at a time, each ended by the server (batch full, or `pullExpiresMs` passed), never
        // by us: closing a pull's subscription while the server still answers it (consume() does that at a
        // stop) drops what was on its way — delivered, never seen, redelivered after the ack wait; on a
        // cluster, where the unsubscribe reaches the consumer's leader late, 1–5 messages per SIGTERM of
        // scenario 17. So a stop waits for the current pull to end (at most `pullExpiresMs`) and finishes
        // all it brought. Short pulls also replace a pull lost in a cluster restart within seconds (with
        // 30 s ones every consumer sat idle ~20 s after it; fault scenario 3).
        const messages = await consumer.fetch({ max_messages: Math.max(spec.maxMessages ?? 256, batchSize), expires: pullExpiresMs });
        for await (const msg of messages) {
          if (pastDeadline) {
            msg.nak();
            returned++;
            continue;
          }
          if (msg.info.deliveryCount > 1) metrics.redelivered();
          held.set(msg, Date.now());
          waiting.push(msg);
          if (waiting.length >= batchSize) startWork();
          else if (!startScheduled) {
            // Start after the messages of this pull response are all in: they can share a batch.
            startScheduled = true;
            setImmediate(startWork);
          }
          while (waiting.length >= batchSize && inHand.size >= limit) await Promise.race(inHand);
        }
      } catch (error) {
        if (stopping) break;
        log.warn("consumer interrupted, resuming", { consumer: spec.name, error });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    // Stopping: finish what waits for a slot, unless the deadline comes first.
    while (!pastDeadline && (waiting.length > 0 || inHand.size > 0)) {
      startWork();
      await Promise.race([...inHand, deadline.reached]);
    }
    // Not started: nak'ed, so another instance (or the next start) takes them now rather than after ack_wait.
    returned += waiting.length;
    for (const msg of waiting.splice(0)) {
      held.delete(msg);
      msg.nak();
    }
    await Promise.all(inHand); // a handler already running is never cut off: its write may be under way
    clearInterval(keepAlive);
  })();

  return {
    stop: async (deadlineMs = 10_000) => {
      const settledBefore = settled;
      const retriedBefore = retried;
      deadline.reached = new Promise<void>((resolve) => {
        deadline.timer = setTimeout(() => {
          pastDeadline = true;
          resolve();
        }, deadlineMs);
      });
      stopping = true;
      await loop;
      clearTimeout(deadline.timer);
      log.info("consumer stopped", { consumer: spec.name, finishedAfterStop: settled - settledBefore, returned, retriedAfterStop: retried - retriedBefore });
    },
  };
}

/** The handler's outcome, or an UnavailableError (transient: retried) if it has not settled within `timeoutMs`. */
async function withinDeadline<R>(work: Promise<R>, timeoutMs: number, consumer: string): Promise<R> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UnavailableError(`${consumer}: handler did not finish within ${timeoutMs / 1000} s; retrying the message`)), timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function decodeOrPoison<T>(spec: ConsumerSpec<T>, msg: JsMsg): T {
  try {
    return spec.decode(msg.data, msg.subject);
  } catch (error) {
    if (error instanceof PoisonMessageError) throw error;
    throw new PoisonMessageError(`undecodable message: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

/**
 * Non-transient failures per stream sequence, counted by this process. The server's delivery count is not
 * used for this: it also counts the redeliveries of an outage, after which one bug would dead-letter a
 * message at its first failure. Another instance, or this one after a restart, counts afresh, so a bug
 * costs at most `maxAttempts` per instance life; bounded, the oldest entries make room.
 */
class FailureCounts {
  private readonly counts = new Map<number, number>();
  add(seq: number): number {
    const count = (this.counts.get(seq) ?? 0) + 1;
    this.counts.delete(seq);
    this.counts.set(seq, count);
    if (this.counts.size > 10_000) this.counts.delete(this.counts.keys().next().value!);
    return count;
  }
  forget(seq: number): void {
    this.counts.delete(seq);
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Copies the message to DEAD_LETTERS, then terminates it; if the copy fails the message is retried instead
 * (false).
 */
async function deadLetter<T>(js: JetStreamClient, spec: ConsumerSpec<T>, msg: JsMsg, reason: string, attempts: number, log: Logger) {
  const h = natsHeaders();
  h.set(deadLetterHeaders.reason, reason.slice(0, 1000));
  h.set(deadLetterHeaders.attempts, String(attempts));
  h.set(deadLetterHeaders.consumer, spec.name);
  h.set(deadLetterHeaders.stream, spec.stream);
  h.set(deadLetterHeaders.subject, msg.subject);
  h.set(deadLetterHeaders.sequence, String(msg.seq));
  try {
    await js.publish(`dead.${spec.name}`, msg.data, { headers: h, msgID: `${spec.stream}:${msg.seq}:${spec.name}` });
    msg.term(reason.slice(0, 200));
    log.error("message dead-lettered", { consumer: spec.name, subject: msg.subject, streamSequence: msg.seq, attempts, reason });
    return true;
  } catch (error) {
    log.warn("dead-letter publish failed, will retry", { consumer: spec.name, error });
    msg.nak(retryDelayMs(msg.info.deliveryCount));
    return false;
  }
}
