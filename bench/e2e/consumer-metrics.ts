/**
 * The shared consumer loop's counters of a service instance, read from its
 * /metrics (services/shared/consumer.ts): how its messages ended (acked,
 * retried, dead-lettered) and how its batches did (applied; failed: handled
 * again one by one). Beside CPU per event they say where a second instance's
 * time goes — retries and failed batches are work done twice.
 */

export interface ConsumerCounts {
  acked: number;
  retried: number;
  deadLettered: number;
  batchesApplied: number;
  batchesFailed: number;
  /** Messages acked by applied batches, over applied batches. */
  meanBatch: number;
}

const line = /^ngsreach_consumer_(messages|batches|batched_messages)_total_\w+?(?:\{outcome="(\w+)"\})? (\S+)$/;

/** Sums every consumer of the instance (delivery-status and campaign-stats each have one on the events stream). */
export async function consumerCounts(port: number): Promise<ConsumerCounts | undefined> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) }).then(
    (response) => (response.ok ? response.text() : undefined),
    () => undefined,
  );
  if (text === undefined) return undefined;
  const sums = { acked: 0, retried: 0, dead_lettered: 0, batchesApplied: 0, batchesFailed: 0, batched: 0 };
  for (const row of text.split("\n")) {
    const match = line.exec(row);
    if (!match) continue;
    const [, kind, outcome, raw] = match;
    const value = Number(raw);
    if (kind === "messages" && (outcome === "acked" || outcome === "retried" || outcome === "dead_lettered")) sums[outcome] += value;
    else if (kind === "batches" && outcome === "applied") sums.batchesApplied += value;
    else if (kind === "batches" && outcome === "failed") sums.batchesFailed += value;
    else if (kind === "batched_messages") sums.batched += value;
  }
  return {
    acked: sums.acked,
    retried: sums.retried,
    deadLettered: sums.dead_lettered,
    batchesApplied: sums.batchesApplied,
    batchesFailed: sums.batchesFailed,
    meanBatch: sums.batchesApplied > 0 ? sums.batched / sums.batchesApplied : Number.NaN,
  };
}
