/**
 * "Does it scale?": the e2e cell (cell.ts) on each backend with 1 and then 2
 * instances of campaign-stats and delivery-status, one fresh stack per cell,
 * in one run — applied events/s side by side, the 2-vs-1 ratio per backend,
 * the database's CPU per applied event (FerretDB, plus PostgreSQL's processes)
 * and the bulk-upsert ceiling of the same server measured in the same cell.
 * The two cells of a backend run back to back, so their ratio is the figure
 * to trust on a shared machine; a cell that fails is reported and the others
 * still run. Results: bench-results/e2e-matrix-*.json.
 */
import { loadavg } from "node:os";
import { machine, table, writeResult } from "../lib/report.ts";
import { backends } from "./backend.ts";
import { runE2eCell, type CellResult } from "./cell.ts";
import { settings } from "./settings.ts";

const instanceCounts = [1, 2] as const;
const log = (line: string) => console.log(`[e2e bench] ${line}`);

type Outcome = { backend: string; instances: number; result?: CellResult; error?: string };

export async function runE2eMatrix() {
  const loadAtStart = loadavg();
  const outcomes: Outcome[] = [];
  for (const backend of backends) {
    for (const instances of instanceCounts) {
      log(`cell ${backend} × ${instances} (load average ${loadavg().map((v) => v.toFixed(2)).join(" ")})`);
      try {
        outcomes.push({ backend, instances, result: await runE2eCell({ backend, instances, latency: settings.matrixLatency }) });
      } catch (error) {
        log(`cell ${backend} × ${instances} failed: ${String(error)}`);
        outcomes.push({ backend, instances, error: String(error) });
      }
    }
  }
  return report(outcomes, loadAtStart);
}

const sumOf = (values: Record<string, number>, prefix: string) => Object.entries(values).filter(([name]) => name.startsWith(prefix)).reduce((sum, [, v]) => sum + v, 0);

function report(outcomes: Outcome[], loadAtStart: number[]) {
  console.log(`\nDoes it scale? ${settings.eventCount} events (${settings.lifecycle.length} per send), ${settings.concurrency} in flight, per backend × instances of campaign-stats and delivery-status`);
  console.log(
    table(
      outcomes.map(({ backend, instances, result: r }) => {
        if (!r) return { backend, inst: String(instances), "applied/s": Number.NaN, "slope/s": Number.NaN, counts: "FAILED", delivery: "", redelivered: "", "db ms/ev": Number.NaN, "db cores": Number.NaN, "svc ms/ev": Number.NaN, busy: Number.NaN, "ceiling/s": Number.NaN, "db ms/ups": Number.NaN, ratio: "n/a", load: "" };
        const s = r.sustained;
        const counts = `${s.finalApplied}/${s.sent} ${s.verdict}`;
        return {
          backend,
          inst: String(instances),
          "applied/s": s.appliedPerSecond,
          "slope/s": s.slopePerSecond,
          counts,
          delivery: `${r.deliveryFacts}/${s.sent}${r.deadLetters > 0 ? `, ${r.deadLetters} dead` : ""}`,
          redelivered: String(Object.values(r.redeliveries).reduce((sum, n) => sum + n, 0)),
          "db ms/ev": r.databaseCpuMsPerEvent,
          "db cores": r.databaseCores,
          "svc ms/ev": sumOf(s.cpuMsPerEvent, "campaign-stats") + sumOf(s.cpuMsPerEvent, "delivery-status"),
          busy: s.machineBusyCores,
          "ceiling/s": r.ceiling.upsertsPerSecond,
          "db ms/ups": r.ceiling.databaseCpuMsPerUpsert,
          ratio: r.ratio.toFixed(3),
          load: r.loadAverageAtStart[0]!.toFixed(2),
        };
      }),
    ),
  );
  console.log(
    "(applied/s: first send → counts caught up; slope: 10 → 90 %; counts: final campaign counts / events sent once every consumer is idle (short, doubled: wrong; unfinished: drain deadline);" +
      "\n delivery: event facts delivery-status stored for them, and dead letters; redelivered: deliveries past the first (ack wait ran out), both consumers;" +
      "\n db: FerretDB + PostgreSQL processes; svc: campaign-stats + delivery-status, all instances; busy: the whole machine's busy cores, anyone's;" +
      "\n ceiling: bulk upserts/s of the same server, same cell; ratio: applied / ceiling; load: 1-min load average at the cell's start)",
  );
  for (const { backend, instances, error } of outcomes) if (error) console.log(`${backend} × ${instances} FAILED: ${error}`);
  const scaling = backends.map((backend) => {
    const of = (n: number) => outcomes.find((o) => o.backend === backend && o.instances === n)?.result?.sustained;
    const one = of(1), two = of(2);
    return { backend, "2 vs 1 applied/s": two && one ? two.appliedPerSecond / one.appliedPerSecond : Number.NaN, "2 vs 1 slope": two && one ? two.slopePerSecond / one.slopePerSecond : Number.NaN };
  });
  console.log(`\n${table(scaling)}`);
  const done = outcomes.filter((o) => o.result);
  const processes = [...new Set(done.flatMap((o) => Object.keys(o.result!.sustained.cpuMsPerEvent)))];
  console.log(`\nphase 1 CPU ms per applied event @ cores, by process:`);
  console.log(
    table(
      processes.map((name) => ({
        process: name,
        ...Object.fromEntries(
          done.map(({ backend, instances, result }) => {
            const s = result!.sustained;
            return [`${backend}×${instances}`, name in s.cpuMsPerEvent ? `${s.cpuMsPerEvent[name]!.toFixed(2)} @ ${s.cpuCores[name]!.toFixed(2)}` : ""];
          }),
        ),
      })),
    ),
  );
  console.log(`\nconsumer loop after phase 1, by instance (retried and failed batches are work done again):`);
  console.log(
    table(
      done.flatMap(({ backend, instances, result }) =>
        Object.entries(result!.consumers).map(([name, c]) => ({
          cell: `${backend}×${instances}`,
          instance: name,
          acked: String(c?.acked ?? "n/a"),
          retried: String(c?.retried ?? "n/a"),
          "dead letters": String(c?.deadLettered ?? "n/a"),
          "batches ok": String(c?.batchesApplied ?? "n/a"),
          "batches failed": String(c?.batchesFailed ?? "n/a"),
          "mean batch": c?.meanBatch ?? Number.NaN,
        })),
      ),
    ),
  );
  const builds = [...new Set(done.map((o) => JSON.stringify(o.result!.databaseSettings.build)))];
  console.log(`\nFerretDB build${builds.length > 1 ? "s (CHANGED during the run)" : ""}: ${builds.join(", ")}`);
  console.log(`\nload average at start ${loadAtStart.map((v) => v.toFixed(2)).join(" ")}, at end ${loadavg().map((v) => v.toFixed(2)).join(" ")}`);
  const result = {
    benchmark: "e2e-matrix",
    at: new Date().toISOString(),
    machine: machine(),
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: loadavg(),
    settings,
    scaling,
    cells: outcomes,
  };
  writeResult("e2e-matrix", result);
  return result;
}
