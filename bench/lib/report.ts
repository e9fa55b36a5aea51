/**
 * Printing a benchmark's small table and writing its JSON results under
 * bench-results/ (git-ignored), with the machine they came from.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../../tools/local-servers.ts";

export const resultsDir = join(repoRoot, "bench-results");

/** What machine and runtime produced a result (machines are shared: load average included). */
export function machine() {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model ?? "unknown",
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    openssl: process.versions.openssl,
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
  };
}

/** One of the performance issue's targets as a benchmark measured it, beside the same run's baseline. */
export interface Verdict {
  target: string;
  figure: string;
  baseline: string;
  met: boolean;
}

/** The verdicts as a table (each benchmark's own, and `npm run bench`'s summary of all). */
export function verdictTable(verdicts: readonly Verdict[]): string {
  return table(verdicts.map((v) => ({ target: v.target, figure: v.figure, "baseline (same run)": v.baseline, verdict: v.met ? "met" : "NOT MET" })));
}

/** Renders rows as an aligned text table. */
export function table(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return "";
  const columns = Object.keys(rows[0]!);
  const cell = (value: string | number | undefined) => (typeof value === "number" ? fmt(value) : (value ?? ""));
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => cell(row[column]).length)));
  const line = (values: string[]) => values.map((value, i) => (i === 0 ? value.padEnd(widths[i]!) : value.padStart(widths[i]!))).join("  ");
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...rows.map((row) => line(columns.map((c) => cell(row[c]))))].join("\n");
}

/** Numbers with sensible precision. */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** Writes `bench-results/<name>-<timestamp>.json` and `<name>-latest.json`, and prints the path. */
export function writeResult(name: string, result: unknown): void {
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const text = JSON.stringify(result, null, 2) + "\n";
  const path = join(resultsDir, `${name}-${stamp}.json`);
  writeFileSync(path, text);
  writeFileSync(join(resultsDir, `${name}-latest.json`), text);
  console.log(`\nresults: ${path}`);
}
