/**
 * Document writes per applied event (the performance issue's write amplification): each service instance's
 * `ngsreach_database_write_statements_total` (services/shared/database-writes.ts), read from its /metrics before
 * and after phase 1, summed over instances, by collection.
 */
import { metricsText } from "../lib/metrics-text.ts";

const line = /^ngsreach_database_write_statements_total\{([^}]*)\} (\S+)$/;

/** Write statements an instance sent so far, by collection. */
export async function writeStatements(port: number): Promise<Record<string, number>> {
  const text = await metricsText(port);
  if (text === undefined) throw new Error(`e2e bench: the instance on port ${port} did not answer /metrics`);
  const byCollection: Record<string, number> = {};
  for (const row of text.split("\n")) {
    const match = line.exec(row);
    if (!match) continue;
    const collection = /collection="([^"]*)"/.exec(match[1]!)?.[1] ?? "?";
    byCollection[collection] = (byCollection[collection] ?? 0) + Number(match[2]);
  }
  return byCollection;
}

/** Every instance's statements, summed by collection. */
export async function allWriteStatements(ports: readonly number[]): Promise<Record<string, number>> {
  const sum: Record<string, number> = {};
  for (const counts of await Promise.all(ports.map(writeStatements))) {
    for (const [collection, n] of Object.entries(counts)) sum[collection] = (sum[collection] ?? 0) + n;
  }
  return sum;
}

/** What phase 1 wrote: per collection and in all, and per applied event. */
export function writesDuring(before: Record<string, number>, after: Record<string, number>, applied: number) {
  const byCollection = Object.fromEntries(
    Object.entries(after)
      .map(([collection, n]) => [collection, n - (before[collection] ?? 0)] as const)
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1]),
  );
  const total = Object.values(byCollection).reduce((sum, n) => sum + n, 0);
  return { total, perEvent: total / Math.max(1, applied), byCollection };
}
