/**
 * How the command line prints: aligned tables for people, the RPC's own
 * protobuf JSON (`--json`) for scripts, times in UTC, and free text from the
 * services made safe for one terminal line.
 */
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";

/** Free text as one terminal line: control characters (escape sequences a sender chose) shown as "?". */
export const printable = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");

/** A protobuf Timestamp as ISO 8601 UTC, "-" when unset. */
export function time(ts?: Pick<Timestamp, "seconds"> & Partial<Pick<Timestamp, "nanos">>): string {
  if (!ts) return "-";
  return new Date(Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
}

/** How long ago, roughly ("3 min ago"), for a reader deciding whether something is stale. */
export function ago(then: Date, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - then.getTime()) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} days ago`;
}

/** A fraction 0..1 as a percentage with enough digits for complaint rates (0.08 %). */
export function percent(fraction: number): string {
  const value = fraction * 100;
  return `${value === 0 || value >= 10 ? value.toFixed(1) : value.toPrecision(2)} %`;
}

/** Rows under a header, each column as wide as its widest cell, two spaces apart; cells made printable. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [header, ...rows].map((row) => row.map(printable));
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? "").length)));
  return cells.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()).join("\n");
}

/** Label/value lines, labels aligned ("  status      delivered"). */
export function fields(entries: readonly (readonly [string, string])[], indent = "  "): string {
  const width = Math.max(...entries.map(([label]) => label.length));
  return entries.map(([label, value]) => `${indent}${label.padEnd(width)}  ${printable(value)}`).join("\n");
}

/** A message in the standard protobuf JSON mapping (what the RPC answers over Connect with JSON). */
export function jsonOf<D extends DescMessage>(schema: D, message: MessageShape<D>): unknown {
  return toJson(schema, message);
}

/** Prints a value as indented JSON. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
