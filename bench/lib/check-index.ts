/**
 * The suppression service's check index as benchmarks see it: whether it holds what was bulk-loaded
 * (the `ngsreach_suppression_check_index_entries` gauge on /metrics) and answers from memory, and how
 * its checks were answered (`ngsreach_suppression_check_answers_total` by `by`).
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SuppressionService } from "../../gen/ngsreach/suppression/v1/suppression_pb.ts";
import { metricsText } from "./metrics-text.ts";

/** Values of the series of one metric on a service's /metrics, by their label text ("" without labels). */
async function seriesOf(port: number, metric: string): Promise<Record<string, number>> {
  const text = await metricsText(port);
  if (text === undefined) throw new Error(`no /metrics from the service on port ${port}`);
  const values: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (!line.startsWith(metric) || (line[metric.length] !== "{" && line[metric.length] !== " ")) continue;
    const space = line.lastIndexOf(" ");
    values[line.slice(metric.length, space)] = Number(line.slice(space + 1));
  }
  return values;
}

/** CheckSuppressions calls of the service by what answered them (index, database_<why>). */
export async function checkAnswers(port: number): Promise<Record<string, number>> {
  const series = await seriesOf(port, "ngsreach_suppression_check_answers_total");
  return Object.fromEntries(Object.entries(series).map(([labels, value]) => [/by="([^"]+)"/.exec(labels)?.[1] ?? labels, value]));
}

/** Waits until the index holds at least `stored` suppressions and answers a check itself; resolves with the seconds waited. */
export async function checkIndexLoaded(port: number, stored: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const rpc = createClient(SuppressionService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  for (;;) {
    const entries = (await seriesOf(port, "ngsreach_suppression_check_index_entries"))[""] ?? 0;
    if (entries >= stored) {
      const before = (await checkAnswers(port)).index ?? 0;
      await rpc.checkSuppressions({ workspaceId: "probe", emails: ["probe@example.com"] });
      if (((await checkAnswers(port)).index ?? 0) > before) return (performance.now() - started) / 1000;
    }
    if (performance.now() - started > timeoutMs) throw new Error(`the suppression check index did not load ${stored} suppressions within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
