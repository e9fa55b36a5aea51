/**
 * The one JetStream consumer loop and its ack policy, used by every service:
 *
 * - durable pull consumer, explicit acks, created or updated at start-up;
 * - a message is acked only after its handler (and so its database write) finished;
 * - a transient failure (database or NATS unavailable) is nak'ed with an
 *   exponential delay and retried without limit — nothing is dropped while a
 *   dependency is down;
 * - a message that can never be processed (undecodable, or the handler throws
 *   PoisonMessageError) is copied to the DEAD_LETTERS stream with the reason
 *   and the consumer's name, and only then terminated;
 * - up to `concurrency` messages are handled at once, each acked on its own.
 *   Handlers are written for that: events arrive in any order anyway, and
 *   every handler serialises the writes of one document (keyed-lock.ts). It
 *   is what keeps the database busy while each message waits on round trips
 *   (one at a time, campaign-stats applied 72 events/s with FerretDB idle
 *   between requests; bench/e2e). A consumer whose outcome depends on the
 *   order of some messages (suppression's soft-bounce streak of an address)
 *   names an `orderingKey`: messages with the same key are still handled one
 *   after another, in delivery order.
 */
import { headers as natsHeaders } from "@nats-io/nats-core";
import {
  AckPolicy,
  DeliverPolicy,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { PoisonMessageError } from "./errors.ts";
import { KeyedLock } from "./keyed-lock.ts";
import type { Logger } from "./log.ts";
import type { MetricsRegistry } from "./metrics.ts";

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
  /** Applies the message; must be idempotent (redelivery happens). */
  handle(message: T, meta: MessageMeta): Promise<void>;
  /** How many messages to keep buffered (default 256). */
  maxMessages?: number;
  /** How long the server waits for an ack before redelivering (default 30 s). */
  ackWaitMs?: number;
  /** Messages handled at the same time (default 16). */
  concurrency?: number;
  /** Messages with the same key are handled one after another, in delivery order; undefined: no order. */
  orderingKey?(message: T): string | undefined;
}

/** Headers on a dead letter; the CLI's replay reads them. */
export const deadLetterHeaders = Object.freeze({
  reason: "Ngs-Dead-Reason",
  consumer: "Ngs-Dead-Consumer",
  stream: "Ngs-Original-Stream",
  subject: "Ngs-Original-Subject",
  sequence: "Ngs-Original-Sequence",
});

export interface RunningConsumer {
  /** Stops pulling, lets the messages in hand finish, and resolves. */
  stop(): Promise<void>;
}

export interface ConsumerDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  log: Logger;
  metrics: MetricsRegistry;
}

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
    ack_wait: nanos(spec.ackWaitMs ?? 30_000),
    max_deliver: -1,
    max_ack_pending: 10_000,
  };
  const existing = await jsm.consumers.info(spec.stream, spec.name).catch(() => undefined);
  if (existing) await jsm.consumers.update(spec.stream, spec.name, config);
  else await jsm.consumers.add(spec.stream, config);

  const processed = deps.metrics.counter(
    `ngsreach_consumer_messages_total_${spec.name.replace(/[^a-zA-Z0-9_]/g, "_")}`,
    `Messages handled by consumer ${spec.name}, by outcome (acked, retried, dead_lettered).`,
  );
  const consumer = await js.consumers.get(spec.stream, spec.name);
  let stopping = false;
  let messages: ConsumerMessages | undefined;

  const inOrder = new KeyedLock();
  const handleOne = async (msg: JsMsg): Promise<void> => {
    const meta = { subject: msg.subject, streamSequence: msg.seq, deliveryCount: msg.info.deliveryCount };
    try {
      const decoded = decodeOrPoison(spec, msg);
      const key = spec.orderingKey?.(decoded);
      await (key === undefined ? spec.handle(decoded, meta) : inOrder.run(key, () => spec.handle(decoded, meta)));
      msg.ack();
      processed.inc({ outcome: "acked" });
    } catch (error) {
      if (error instanceof PoisonMessageError) {
        await deadLetter(js, spec, msg, error.message, log);
        processed.inc({ outcome: "dead_lettered" });
        return;
      }
      const delay = retryDelayMs(meta.deliveryCount);
      log.warn("message failed, will retry", { consumer: spec.name, ...meta, delayMs: delay, error });
      msg.nak(delay);
      processed.inc({ outcome: "retried" });
    }
  };

  const limit = Math.max(1, spec.concurrency ?? 16);
  const inHand = new Set<Promise<void>>();
  const loop = (async () => {
    while (!stopping) {
      try {
        messages = await consumer.consume({ max_messages: spec.maxMessages ?? 256 });
        for await (const msg of messages) {
          // handleOne never rejects: every outcome ends in ack, nak or a dead letter.
          const task: Promise<void> = handleOne(msg).finally(() => inHand.delete(task));
          inHand.add(task);
          if (inHand.size >= limit) await Promise.race(inHand);
          if (stopping) break;
        }
        await Promise.all(inHand);
      } catch (error) {
        if (stopping) break;
        log.warn("consumer interrupted, resuming", { consumer: spec.name, error });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  })();

  return {
    stop: async () => {
      stopping = true;
      await messages?.close();
      await loop;
      await Promise.all(inHand);
    },
  };
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

/** Copies the message to DEAD_LETTERS, then terminates it; if the copy fails the message is retried instead. */
async function deadLetter<T>(js: JetStreamClient, spec: ConsumerSpec<T>, msg: JsMsg, reason: string, log: Logger) {
  const h = natsHeaders();
  h.set(deadLetterHeaders.reason, reason.slice(0, 1000));
  h.set(deadLetterHeaders.consumer, spec.name);
  h.set(deadLetterHeaders.stream, spec.stream);
  h.set(deadLetterHeaders.subject, msg.subject);
  h.set(deadLetterHeaders.sequence, String(msg.seq));
  try {
    await js.publish(`dead.${spec.name}`, msg.data, { headers: h, msgID: `${spec.stream}:${msg.seq}:${spec.name}` });
    msg.term(reason.slice(0, 200));
    log.error("message dead-lettered", { consumer: spec.name, subject: msg.subject, streamSequence: msg.seq, reason });
  } catch (error) {
    log.warn("dead-letter publish failed, will retry", { consumer: spec.name, error });
    msg.nak(retryDelayMs(msg.info.deliveryCount));
  }
}
