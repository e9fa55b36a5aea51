/**
 * End-to-end benchmark (issue #8, sub-benchmark 2): signed Resend webhooks
 * into the gateway, through JetStream, applied by campaign-stats (with
 * delivery-status consuming the same stream and writing the same database),
 * until GetCampaignStats shows them — beside, in the same run, the database's
 * own ceiling: raw bulk upserts/s into the same FerretDB.
 *
 *   node bench/e2e/e2e.ts                       (or `npm run bench -- e2e`)
 *   BENCH_E2E_MATRIX=1 node bench/e2e/e2e.ts    ("does it scale?", matrix.ts)
 *
 * One run is one cell (cell.ts) by default: FerretDB on SQLite, one instance
 * of each service — phase 1 sustained (sustained.ts), phase 2 latency at half
 * the applied rate (latency.ts), then the ceiling (ceiling.ts).
 * BENCH_E2E_BACKEND=postgresql runs FerretDB on a PostgreSQL cluster the bench
 * creates (bench/lib/postgres.ts) instead; BENCH_E2E_INSTANCES=2 runs two
 * processes of campaign-stats and of delivery-status on the same durable
 * consumers. BENCH_E2E_MATRIX=1 runs {sqlite, postgresql} × {1, 2 instances},
 * each cell on a fresh stack, and prints them side by side (no latency phase
 * unless BENCH_E2E_LATENCY_SECONDS is set).
 *
 * Variables: BENCH_E2E_EVENTS (1500), BENCH_E2E_CONCURRENCY (24),
 * BENCH_E2E_LIFECYCLE (0; 1: phase 1 sends each email three events —
 * sent, delivered, opened — instead of one), BENCH_E2E_DRAIN_SECONDS (90:
 * phase-1 deadline), BENCH_E2E_LATENCY_SECONDS (20), BENCH_E2E_POLL_MS (500),
 * BENCH_E2E_CEILING_SECONDS (10), BENCH_E2E_BATCH (500), BENCH_E2E_BACKEND
 * (sqlite), BENCH_E2E_INSTANCES (1), BENCH_E2E_MATRIX (0),
 * BENCH_E2E_START_TOGETHER (0; 1: start the service instances at once),
 * BENCH_POSTGRES_SYNCHRONOUS_COMMIT (off), BENCH_POSTGRES_USER (postgres,
 * when running as root), BENCH_POSTGRES_BIN (/usr/lib/postgresql/15/bin).
 */
import { loadavg } from "node:os";
import { machine, table, verdictTable, writeResult, type Verdict } from "../lib/report.ts";
import { runE2eCell, type CellResult } from "./cell.ts";
import { runE2eMatrix } from "./matrix.ts";
import { settings } from "./settings.ts";

// Other benchmarks import these from here.
export { eventBody, percentile } from "./events.ts";
export { startProcess } from "../lib/service-process.ts";

/** Runs the benchmark (one cell, or the matrix) and returns its result object (also written to bench-results/). */
export async function runE2eBenchmark() {
  if (settings.matrix) return await runE2eMatrix();
  const cell = await runE2eCell({ backend: settings.backend, instances: settings.instances, latency: settings.latencySeconds > 0 });
  return report(cell);
}

function report(cell: CellResult) {
  const { sustained: phase1, latency: phase2, ceiling } = cell;
  const { eventCount, lifecycle, concurrency } = settings;
  const p99Ms = phase2?.p99Ms ?? Number.NaN;
  // The performance issue's (round two) targets; the first round's (70 % of the ceiling, p99 <= 1 s) are in the README.
  const targets = {
    appliedAtLeastQuarterOfCeiling: cell.ratio >= 0.25,
    writesPerEventAtMost2_5: cell.writes.perEvent <= 2.5,
    p99AtMost250ms: phase2 !== undefined && p99Ms <= 250 && phase2.unresolved === 0,
  };
  const verdict = (met: boolean) => (met ? "MET" : "NOT MET");
  const backend = cell.backend === "sqlite" ? "FerretDB/SQLite" : "FerretDB/PostgreSQL";
  const services = cell.instances === 1 ? "campaign-stats + delivery-status" : `${cell.instances}× campaign-stats + ${cell.instances}× delivery-status`;
  console.log(`\nEnd to end (gateway → JetStream → ${services} → ${backend} → GetCampaignStats), ${phase1.sent} events (${lifecycle.length} per send), ${concurrency} in flight`);
  const rows = [
    { what: "gateway ingest (200s)", "events/s": phase1.ingestPerSecond, "p50 ms": Number.NaN, "p99 ms": Number.NaN, note: `${phase1.sent} in ${phase1.ingestSeconds.toFixed(1)} s, ${phase1.failed} failed` },
    { what: "applied → queryable stats", "events/s": phase1.appliedPerSecond, "p50 ms": Number.NaN, "p99 ms": Number.NaN, note: `${phase1.applied}/${phase1.sent} in ${phase1.appliedSeconds.toFixed(1)} s${phase1.caughtUp ? "" : " (DEADLINE)"}; 10–90 % slope ${phase1.slopePerSecond.toFixed(1)}/s; final ${phase1.finalApplied} (${phase1.verdict})` },
  ];
  if (phase2) rows.push({ what: `latency at ${phase2.rate.toFixed(1)} events/s`, "events/s": phase2.rate, "p50 ms": phase2.p50Ms, "p99 ms": phase2.p99Ms, note: `${phase2.visible} visible, ${phase2.unresolved} not; read on change` });
  rows.push({ what: "ceiling: bulk upserts", "events/s": ceiling.upsertsPerSecond, "p50 ms": Number.NaN, "p99 ms": Number.NaN, note: `${ceiling.batches}×${ceiling.batchSize} in ${ceiling.seconds.toFixed(1)} s, database ${ceiling.databaseCores.toFixed(2)} cores, ${ceiling.databaseCpuMsPerUpsert.toFixed(2)} ms/upsert` });
  console.log(table(rows));
  console.log(`\nphase 1 CPU per applied event and cores used, by process (machine busy: ${phase1.machineBusyCores.toFixed(2)} cores):`);
  console.log(table(Object.keys(phase1.cpuMsPerEvent).map((name) => ({ process: name, "CPU ms/event": phase1.cpuMsPerEvent[name]!, cores: phase1.cpuCores[name]!, "peak RSS MiB": cell.peakRssMiB[name] ?? Number.NaN }))));
  console.log(`\nconsumer loop after phase 1, by instance (redeliveries by durable consumer: ${JSON.stringify(cell.redeliveries)}):`);
  console.log(table(Object.entries(cell.consumers).map(([name, c]) => ({ instance: name, acked: String(c?.acked ?? "n/a"), retried: String(c?.retried ?? "n/a"), "batches ok": String(c?.batchesApplied ?? "n/a"), "batches failed": String(c?.batchesFailed ?? "n/a"), "mean batch": c?.meanBatch ?? Number.NaN }))));
  console.log(
    `\nratio applied/ceiling: ${cell.ratio.toFixed(3)}` +
      `\ndocument writes per applied event: ${cell.writes.perEvent.toFixed(2)} (${cell.writes.total} write statements for ${phase1.finalApplied} events: ` +
      `${Object.entries(cell.writes.byCollection).map(([collection, n]) => `${collection} ${(n / Math.max(1, phase1.finalApplied)).toFixed(2)}`).join(", ")})` +
      `\ntargets: applied/ceiling >= 0.25 ${verdict(targets.appliedAtLeastQuarterOfCeiling)} (${cell.ratio.toFixed(3)}); ` +
      `writes/event <= 2.5 ${verdict(targets.writesPerEventAtMost2_5)} (${cell.writes.perEvent.toFixed(2)}); ` +
      `event-to-queryable p99 <= 250 ms at half the sustained rate ${verdict(targets.p99AtMost250ms)} (${p99Ms.toFixed(0)} ms)` +
      `\nload average at start ${cell.loadAverageAtStart.map((v) => v.toFixed(2)).join(" ")}, at end ${loadavg().map((v) => v.toFixed(2)).join(" ")}`,
  );
  const verdicts: Verdict[] = [
    { target: "3. applied/ceiling >= 0.25", figure: `${phase1.appliedPerSecond.toFixed(0)} applied events/s (${cell.ratio.toFixed(3)})`, baseline: `bulk-upsert ceiling ${ceiling.upsertsPerSecond.toFixed(0)}/s`, met: targets.appliedAtLeastQuarterOfCeiling },
    { target: "3. document writes per applied event <= 2.5", figure: cell.writes.perEvent.toFixed(2), baseline: "ceiling: 1 per upsert", met: targets.writesPerEventAtMost2_5 },
    { target: "4. event-to-queryable p99 <= 250 ms at half rate", figure: `p99 ${p99Ms.toFixed(0)} ms at ${phase2?.rate.toFixed(0) ?? "?"} events/s`, baseline: "-", met: targets.p99AtMost250ms },
  ];
  console.log(`\n${verdictTable(verdicts)}`);
  const result = {
    benchmark: "e2e",
    at: new Date().toISOString(),
    machine: machine(),
    loadAverageAtStart: cell.loadAverageAtStart,
    settings: { ...settings, eventsPerSend: lifecycle.length, eventCount },
    backend: cell.backend,
    instances: cell.instances,
    databaseSettings: cell.databaseSettings,
    sustained: cell.sustained,
    latency: phase2,
    ceiling,
    ratio: cell.ratio,
    writes: cell.writes,
    targets,
    verdicts,
    deliveryFacts: cell.deliveryFacts,
    deadLetters: cell.deadLetters,
    consumers: cell.consumers,
    redeliveries: cell.redeliveries,
    peakRssMiB: cell.peakRssMiB,
  };
  writeResult("e2e", result);
  return result;
}

if (import.meta.main) {
  await runE2eBenchmark();
  process.exit(0);
}
