/**
 * What the consumer loop (consumer.ts) counts and times, per durable consumer:
 * one series family per metric for the whole service, labelled by `consumer`.
 * What JetStream itself holds for a consumer (pending, ack-pending, dead
 * letters) is read at scrape time instead (scrape-gauges.ts).
 */
import type { MetricsRegistry } from "./metrics.ts";

/** How a message ended: stored (or found already stored), acked without effect, nak'ed for later, or dead-lettered. */
export type MessageOutcome = "applied" | "skipped" | "retried" | "dead_lettered";

export interface ConsumerMetrics {
  ended(outcome: MessageOutcome, count?: number): void;
  /** A message delivered before (a retry, or not acked before a stop or crash). */
  redelivered(): void;
  /** One message's handling, in seconds (a batch's share of it for each of its messages). */
  handled(seconds: number, count?: number): void;
  /** One handleBatch call: its time and size, and whether it threw (its messages are then handled one by one). */
  batch(seconds: number, size: number, failed: boolean): void;
}

const batchSizeBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** The series of one consumer, resolved once: the loop's per-message path does no label lookups of its own. */
export function consumerMetrics(metrics: MetricsRegistry, consumer: string): ConsumerMetrics {
  const messages = metrics.counter("ngsreach_consumer_messages_total", "Messages the consumer finished, by outcome (applied, skipped, retried, dead_lettered).", ["consumer", "outcome"]);
  const redeliveries = metrics.counter("ngsreach_consumer_redeliveries_total", "Messages this process received with a delivery count above 1.", ["consumer"]).labels(consumer);
  const handle = metrics.histogram("ngsreach_consumer_handle_duration_seconds", "Handling of one message, ack included (in a batch: its share of the batch).", ["consumer"]).labels(consumer);
  const batchSeconds = metrics.histogram("ngsreach_consumer_batch_duration_seconds", "One handleBatch call (bulk writes).", ["consumer"]).labels(consumer);
  const batchSize = metrics.histogram("ngsreach_consumer_batch_messages", "Messages given to one handleBatch call.", ["consumer"], batchSizeBuckets).labels(consumer);
  const failedBatches = metrics.counter("ngsreach_consumer_failed_batches_total", "handleBatch calls that threw; their messages were handled again one by one.", ["consumer"]).labels(consumer);
  const outcomes = Object.fromEntries(
    (["applied", "skipped", "retried", "dead_lettered"] as const).map((outcome) => [outcome, messages.labels(consumer, outcome)]),
  ) as Record<MessageOutcome, { inc(by?: number): void }>;
  // Zero from the start, so rate() and alerts see a series before its first increment.
  for (const series of [...Object.values(outcomes), redeliveries]) series.inc(0);
  return {
    ended: (outcome, count = 1) => outcomes[outcome].inc(count),
    redelivered: () => redeliveries.inc(),
    handled: (seconds, count = 1) => {
      for (let i = 0; i < count; i++) handle.observe(seconds);
    },
    batch: (seconds, size, failed) => {
      batchSeconds.observe(seconds);
      batchSize.observe(size);
      if (failed) failedBatches.inc();
    },
  };
}
