/**
 * The shared consumer loop's counters of a service instance, read from its
 * /metrics (services/shared/consumer-metrics.ts): how its messages ended (acked,
 * retried, dead-lettered) and how its batches did (applied; failed: handled
 * again one by one). Beside CPU per event they say where a second instance's
 * time goes — retries and failed batches are work done twice.
 */
import { metricsText } from "../lib/metrics-text.ts";

export interface ConsumerCounts {
  /** Acked: applied, or skipped (nothing to do). */
  acked: number;
  retried: number;
  deadLettered: number;
  batchesApplied: number;
  batchesFailed: number;
  /** Messages given to handleBatch calls, over those calls (failed ones included). */
  meanBatch: number;
}

const line = /^(ngsreach_consumer_(?:messages_total|failed_batches_total|batch_messages_sum|batch_messages_count))\{([^}]*)\} (\S+)$/;


/** Sums every consumer of the instance (delivery-status and campaign-stats each have one on the events stream). */
export async function consumerCounts(port: number): Promise<ConsumerCounts | undefined> {
  const text = await metricsText(port);
  if (text === undefined) return undefined;
  const sums = { applied: 0, skipped: 0, retried: 0, dead_lettered: 0, failedBatches: 0, batched: 0, batches: 0 };
  for (const row of text.split("\n")) {
    const match = line.exec(row);
    if (!match) continue;
    const [, name, labels, raw] = match;
    const value = Number(raw);
    const outcome = /outcome="(\w+)"/.exec(labels!)?.[1];
    if (name === "ngsreach_consumer_messages_total" && (outcome === "applied" || outcome === "skipped" || outcome === "retried" || outcome === "dead_lettered")) {
      sums[outcome] += value;
    } else if (name === "ngsreach_consumer_failed_batches_total") sums.failedBatches += value;
    else if (name === "ngsreach_consumer_batch_messages_sum") sums.batched += value;
    else if (name === "ngsreach_consumer_batch_messages_count") sums.batches += value;
  }
  return {
    acked: sums.applied + sums.skipped,
    retried: sums.retried,
    deadLettered: sums.dead_lettered,
    batchesApplied: sums.batches - sums.failedBatches,
    batchesFailed: sums.failedBatches,
    meanBatch: sums.batches > 0 ? sums.batched / sums.batches : Number.NaN,
  };
}
