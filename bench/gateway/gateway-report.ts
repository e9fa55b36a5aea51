/**
 * What the gateway benchmark prints and saves: one table row per measured run
 * (baseline and each provider's gateway row, per round), and per row kind its
 * verified events/s as a ratio to the same round's baseline — the baseline
 * verifies one event per request, so events/s is what compares across a
 * SendGrid array and a single Resend or SNS POST.
 */
import type { LoadResult } from "../lib/load.ts";
import { table } from "../lib/report.ts";
import type { WorkloadName } from "./workloads.ts";

/**
 * "resend-traced": Resend's requests to a second gateway process with tracing on (BENCH_GATEWAY_TRACING=1);
 * "resend-workers": to a gateway run as GATEWAY_PROCESSES worker processes (BENCH_GATEWAY_WORKERS, default 2).
 */
export type Target = "baseline" | WorkloadName | "resend-traced" | "resend-workers";

/** Peak memory of each server process (the traced gateway's when it ran; the workers' summed with their primary). */
export interface PeakRss {
  baseline: number;
  gateway: number;
  traced?: number;
  workers?: number;
}

/** Which process a row's peak memory is of: every provider's row is the one gateway's. */
const peakProcess: Partial<Record<Target, keyof PeakRss>> = { baseline: "baseline", "resend-traced": "traced", "resend-workers": "workers" };
const peakOf = (target: Target, peak: PeakRss) => peak[peakProcess[target] ?? "gateway"] ?? Number.NaN;

/** Each row of `server` with the one-process Resend row of its round (the rows a comparison of Resend runs pairs). */
const withResendRow = (rows: RunRow[], server: Target) =>
  rows.flatMap((row) => {
    const resend = row.server === server ? rows.find((other) => other.server === "resend" && other.round === row.round) : undefined;
    return resend ? [{ round: row.round, row, resend }] : [];
  });

export interface RunRow {
  round: number;
  server: Target;
  /** As the table prints it. */
  label: string;
  eventsPerRequest: number;
  load: LoadResult;
  /** Answered requests × events each. */
  eventsPerSecond: number;
  serverCpuMsPerEvent: number;
  serverCpuCores: number;
  natsCpuMsPerEvent?: number;
  generatorCpuCores: number;
  /** Events JetStream stored during the run (gateway rows only). */
  stored?: number;
  /** The traced row: OTLP export requests and bytes the sink received since the run started. */
  traceExports?: { requests: number; bytes: number };
}

export interface TargetSummary {
  label: string;
  eventsPerRequest: number;
  rps: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuMsPerEvent: number;
  peakRssMiB: number;
  /** Events/s ÷ the same round's baseline req/s, median of rounds (1 for the baseline). */
  ratio: number;
  ratios: number[];
  /** CPU per event ÷ the baseline's. */
  cpuPerEventRatio: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;

/** The summary of every target that has rows, baseline first. */
export function summarise(rows: RunRow[], peakRssMiB: PeakRss): Partial<Record<Target, TargetSummary>> {
  const baselineOf = (round: number) => rows.find((row) => row.server === "baseline" && row.round === round);
  const baselineCpu = mean(rows.filter((row) => row.server === "baseline").map((row) => row.serverCpuMsPerEvent));
  const out: Partial<Record<Target, TargetSummary>> = {};
  for (const target of [...new Set(rows.map((row) => row.server))]) {
    const of = rows.filter((row) => row.server === target);
    const ratios = of.flatMap((row) => {
      const baseline = baselineOf(row.round);
      return baseline ? [row.eventsPerSecond / baseline.eventsPerSecond] : [];
    });
    const cpuMsPerEvent = mean(of.map((row) => row.serverCpuMsPerEvent));
    out[target] = {
      label: of[0]!.label,
      eventsPerRequest: of[0]!.eventsPerRequest,
      rps: mean(of.map((row) => row.load.rps)),
      eventsPerSecond: mean(of.map((row) => row.eventsPerSecond)),
      p50Ms: median(of.map((row) => row.load.p50Ms)),
      p99Ms: Math.max(...of.map((row) => row.load.p99Ms)),
      cpuMsPerEvent,
      peakRssMiB: peakOf(target, peakRssMiB),
      ratio: ratios.length > 0 ? median(ratios) : Number.NaN,
      ratios,
      cpuPerEventRatio: cpuMsPerEvent / baselineCpu,
    };
  }
  return out;
}

/** The table of runs, one line each. */
export function runTable(rows: RunRow[], peakRssMiB: PeakRss): string {
  const baselineOf = (round: number) => rows.find((row) => row.server === "baseline" && row.round === round);
  return table(
    rows.map((row) => ({
      round: String(row.round),
      server: row.label,
      "req/s": row.load.rps,
      "events/s": row.eventsPerSecond,
      "× baseline": row.eventsPerSecond / (baselineOf(row.round)?.eventsPerSecond ?? Number.NaN),
      "p50 ms": row.load.p50Ms,
      "p99 ms": row.load.p99Ms,
      "server CPU ms/event": row.serverCpuMsPerEvent,
      "server cores": row.serverCpuCores,
      "nats CPU ms/event": row.natsCpuMsPerEvent ?? Number.NaN,
      "loadgen cores": row.generatorCpuCores,
      "peak RSS MiB": peakOf(row.server, peakRssMiB),
      "non-2xx": String(row.load.non2xx + row.load.errors),
      stored: row.stored ?? Number.NaN,
    })),
  );
}

/** One line per gateway row other than Resend's: events/s and req/s beside the baseline. */
export function providerLines(summaries: Partial<Record<Target, TargetSummary>>): string[] {
  return (Object.entries(summaries) as [Target, TargetSummary][])
    .filter(([target]) => target !== "baseline" && target !== "resend" && target !== "resend-traced" && target !== "resend-workers")
    .map(
      ([, s]) =>
        `${s.label}: ${Math.round(s.eventsPerSecond).toLocaleString("en-US")} events/s` +
        (s.eventsPerRequest > 1 ? ` in ${Math.round(s.rps).toLocaleString("en-US")} requests/s` : "") +
        `, ${s.ratio.toFixed(2)}× the baseline's events/s [per round: ${s.ratios.map((r) => r.toFixed(2)).join(", ")}]` +
        `, CPU per event ${s.cpuPerEventRatio.toFixed(2)}× the baseline's, p99 ${s.p99Ms.toFixed(1)} ms`,
    );
}

/**
 * Tracing on against off, per round (the two gateway processes take Resend's requests one after the
 * other in each round): events/s, CPU per event and p99 ratios; undefined without the traced row.
 * `droppedSpans`: what the traced gateway's span processor reported dropping.
 */
export function tracingComparison(rows: RunRow[], droppedSpans = 0) {
  const pairs = withResendRow(rows, "resend-traced").map(({ round, row, resend }) => ({ round, on: row, off: resend }));
  if (pairs.length === 0) return undefined;
  const events = pairs.reduce((sum, { on }) => sum + on.eventsPerSecond * on.load.durationS, 0);
  const exported = pairs.reduce((sum, { on }) => sum + (on.traceExports?.bytes ?? 0), 0);
  const figures = pairs.map(({ round, on, off }) => ({
    round,
    eventsPerSecondRatio: on.eventsPerSecond / off.eventsPerSecond,
    cpuPerEventRatio: on.serverCpuMsPerEvent / off.serverCpuMsPerEvent,
    cpuMsPerEventAdded: on.serverCpuMsPerEvent - off.serverCpuMsPerEvent,
    p99Ms: { off: off.load.p99Ms, on: on.load.p99Ms },
  }));
  const list = (pick: (figure: (typeof figures)[number]) => string) => figures.map(pick).join(", ");
  const line =
    `tracing on vs off (Resend, same rounds; on: ${pairs[0]!.on.label.replace(/^gateway, Resend, /, "")}, OTLP http/protobuf to a loopback sink that discards): ` +
    `events/s ${list((f) => f.eventsPerSecondRatio.toFixed(2))}×, CPU per event ${list((f) => f.cpuPerEventRatio.toFixed(2))}× ` +
    `(+${list((f) => (f.cpuMsPerEventAdded * 1000).toFixed(0))} µs), p99 ${list((f) => `${f.p99Ms.off.toFixed(1)} → ${f.p99Ms.on.toFixed(1)} ms`)}; ` +
    `~${Math.round(exported / Math.max(1, events))} B of OTLP per event, ${droppedSpans} spans dropped (queue full)`;
  return { line, figures: { rounds: figures, exportedBytesPerEvent: exported / Math.max(1, events), droppedSpans } };
}

/**
 * The gateway as worker processes against one process, per round (each takes Resend's requests in turn): events/s,
 * CPU per event (all its processes) and p99 ratios; undefined without the workers row.
 */
export function workersComparison(rows: RunRow[], processes: number) {
  const figures = withResendRow(rows, "resend-workers").map(({ round, row: many, resend: one }) => {
    const baseline = rows.find((row) => row.server === "baseline" && row.round === round);
    return {
      round,
      eventsPerSecondRatio: many.eventsPerSecond / one.eventsPerSecond,
      baselineRatio: baseline ? many.eventsPerSecond / baseline.eventsPerSecond : Number.NaN,
      cpuPerEventRatio: many.serverCpuMsPerEvent / one.serverCpuMsPerEvent,
      p99Ms: { one: one.load.p99Ms, many: many.load.p99Ms },
    };
  });
  if (figures.length === 0) return undefined;
  const list = (pick: (figure: (typeof figures)[number]) => string) => figures.map(pick).join(", ");
  const line =
    `gateway, ${processes} processes vs 1 (Resend, same rounds): events/s ${list((f) => f.eventsPerSecondRatio.toFixed(2))}× ` +
    `(${list((f) => f.baselineRatio.toFixed(2))}× the baseline's), CPU per event ${list((f) => f.cpuPerEventRatio.toFixed(2))}×, ` +
    `p99 ${list((f) => `${f.p99Ms.one.toFixed(1)} → ${f.p99Ms.many.toFixed(1)} ms`)}`;
  return { line, figures: { processes, rounds: figures } };
}
